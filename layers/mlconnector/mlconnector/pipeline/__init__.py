"""The pipeline: receiver, poller and poster logic, independent of Lambda."""
