"""Which records the forgetting guard holds out and which it trains on (pure).

The records come in the selection's seeded key order, so the first ones are a seeded random sample:
the first `heldOutRecords` domain records are held out, and the first `heldOutRecords` replay records
unless the general held-out records come from `generalUri`. Of the rest, the mix run trains on
`sampleRecords` records with the published replay share, the domain-only run on as many domain records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

#: A record, or what the guard made of it (an Example): the split does not look inside.
Record = TypeVar("Record")


class NotEnoughRecords(ValueError):
    """Too few records to hold some out and train on the rest; the message names the field to change."""


@dataclass(frozen=True)
class Split(Generic[Record]):
    domain_held_out: list[Record]
    general_held_out: list[Record]
    #: The mix run's records: domain records, then replay records.
    mix: list[Record]
    mix_replay: int
    #: The run without replay: as many domain records as `mix` has records.
    domain_only: list[Record]


def split(domain: Sequence[Record], replay: Sequence[Record], general: Sequence[Record] | None, *,
          held_out: int, sample: int) -> Split[Record]:
    """`domain` and `replay`: the published records of each kind, in key order. `general`: general
    held-out records of their own (`generalUri`, in key order), or None to hold replay records out."""
    domain_held, domain_pool = list(domain[:held_out]), list(domain[held_out:])
    if general is None:
        general_held, replay_pool = list(replay[:held_out]), list(replay[held_out:])
    else:
        general_held, replay_pool = list(general[:held_out]), list(replay)
    if not domain_pool:
        raise NotEnoughRecords(
            f"evaluation.forgetting.heldOutRecords={held_out}: the dataset has {len(domain)} domain records, "
            "which leaves none to train on; lower heldOutRecords or raise target.records")
    if not general_held:
        source = "evaluation.forgetting.generalUri" if general is not None else "the published replay records"
        raise NotEnoughRecords(f"evaluation.forgetting: no general held-out records ({source} has none)")
    size = min(sample, len(domain_pool))
    published = len(domain) + len(replay)
    share = len(replay) / published if published else 0.0
    n_replay = min(round(size * share), len(replay_pool), size - 1 if size > 1 else 0)
    mix = domain_pool[:size - n_replay] + replay_pool[:n_replay]
    return Split(domain_held_out=domain_held, general_held_out=general_held, mix=mix, mix_replay=n_replay,
                 domain_only=domain_pool[:size])
