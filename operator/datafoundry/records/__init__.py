"""Records: the one way data objects are found, read and written, and the fields the pipeline owns.

- `objects`: what a URI names (one object or the data objects under a prefix; markers skipped).
- `compression`: `.gz` and `.zst` content, decompressed as it streams.
- `lines`: lines with a length bound, UTF-8 and JSON per line.
- `read`: formats (JSONL, Parquet, text), tolerant and strict policies for malformed lines.
- `encode`: records as JSONL.
- `fields`: the record field names the pipeline reads or writes.

Strategies, filters, workers, publish, report and the inspector read every object through here.
"""
