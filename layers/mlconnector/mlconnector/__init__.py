"""ml-connector shared library: canonical models, sources, targets, accounting and pipeline."""
