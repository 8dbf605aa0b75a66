"""The record fields the pipeline itself reads or writes; every other field is the dataset's own.

`id` and `meta` are set by the generator on every record it writes (the model never gets to
choose them); `_source` is set by publish on every published record and names where it came from.
"""

from __future__ import annotations

from typing import Final

ID_FIELD: Final = "id"
META_FIELD: Final = "meta"
#: The fields the generator owns: a strategy's output schema never constrains them.
RESERVED_FIELDS: Final = (ID_FIELD, META_FIELD)
#: Where a published record came from: `SOURCE_GENERATED`, `SOURCE_INPUT` or `SOURCE_REPLAY`.
SOURCE_FIELD: Final = "_source"
SOURCE_GENERATED: Final = "generated"
SOURCE_INPUT: Final = "input"
SOURCE_REPLAY: Final = "replay"
#: The field a plain text line becomes (`spec.input.textField` and `mix.replay.textField` default to it).
TEXT_FIELD: Final = "text"
