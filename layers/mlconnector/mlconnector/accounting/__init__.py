"""The accounting engine (``engine``) and its mapping rules (``rules``).

Import from the modules: loading the rules (the profile does, in every function) does not load the
engine, which only the poster and the reconciler use.
"""
