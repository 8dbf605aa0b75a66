"""The plan: stages, shards, object names, progress records, the environment a job's stores open
with. Pure functions, no I/O."""
