"""Records: the one way data objects are found, read and written, and the fields the pipeline owns.

- `objects`: what a URI names (one object or the data objects under a prefix; markers skipped).
- `compression`: `.gz` and `.zst` content, decompressed as it streams.
- `lines`: lines with a length bound, UTF-8 and JSON per line.
- `read`: formats (JSONL, Parquet, text), tolerant and strict policies for malformed lines.
- `encode`: records as JSONL.
- `fields`: the record field names the pipeline reads or writes.
- `schema`: JSON Schemas records are validated against, checked first.
- `judge`: how a judge model is asked to score a record, and how its answer is read.

The generator's task inputs, the workers' input, replay and eval sets, staged parts, published
shards and previews are all read and written through here.
"""
