"""ERP adapters. Each module registers one ErpTarget implementation by its profile type."""
