"""The record fields the pipeline itself reads or writes; every other field is the dataset's own.

`id` and `meta` are set by the generator on every record it writes (the model never gets to
choose them); `_source` is set by publish on every published record and names where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

ID_FIELD: Final = "id"
META_FIELD: Final = "meta"
#: The fields the generator owns: a strategy's output schema never constrains them.
RESERVED_FIELDS: Final = (ID_FIELD, META_FIELD)
#: Where a published record came from: `SOURCE_GENERATED`, `SOURCE_INPUT`, `SOURCE_REPLAY` (read from
#: mix.replay.uri) or `SOURCE_REPLAY_SELF` (written by the generator model, mix.replay.generate).
SOURCE_FIELD: Final = "_source"
SOURCE_GENERATED: Final = "generated"
SOURCE_INPUT: Final = "input"
SOURCE_REPLAY: Final = "replay"
SOURCE_REPLAY_SELF: Final = "replay-self"
#: `meta.strategy` of the records the generator writes as replay (mix.replay.generate).
REPLAY_STRATEGY: Final = "replaySelf"
#: The field a plain text line becomes (`spec.input.textField` and `mix.replay.textField` default to it).
TEXT_FIELD: Final = "text"


def is_self_replay(record: Mapping[str, Any]) -> bool:
    """A replay record the generator model wrote (mix.replay.generate), not a record toward the target."""
    meta = record.get(META_FIELD)
    return isinstance(meta, dict) and meta.get("strategy") == REPLAY_STRATEGY
