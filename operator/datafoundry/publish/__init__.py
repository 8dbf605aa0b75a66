"""Publishing helpers: record selection and replay mixing, shard formats, manifest and dataset card.

Pure functions over records and counts (object I/O lives in `datafoundry.workers.publish`).
Everything here is deterministic: the same staged records, spec and seed give the same bytes.
"""
