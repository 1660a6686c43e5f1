"""Store adapters. Each module registers one StoreSource implementation by its profile type."""
