"""The plan: stages, shards, object names, progress records. Pure functions, no I/O."""
