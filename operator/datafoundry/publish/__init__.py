"""Publishing helpers: record selection and replay mixing, shard formats, manifest and dataset card.

Pure functions over records and counts (object I/O is the publish worker's).
Everything here is deterministic: the same staged records, spec and seed give the same bytes.
"""
