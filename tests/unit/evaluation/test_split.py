"""Which records the forgetting guard holds out and trains on."""

from __future__ import annotations

import pytest

from datafoundry.evaluation.split import NotEnoughRecords, split


def recs(tag: str, n: int) -> list[dict[str, str]]:
    return [{"id": f"{tag}{i}"} for i in range(n)]


def ids(records: list[dict[str, str]]) -> list[str]:
    return [r["id"] for r in records]


def test_held_out_records_come_first_and_are_never_trained_on() -> None:
    parts = split(recs("d", 40), recs("r", 10), None, held_out=4, sample=16)
    assert ids(parts.domain_held_out) == ["d0", "d1", "d2", "d3"]
    assert ids(parts.general_held_out) == ["r0", "r1", "r2", "r3"]
    trained = set(ids(parts.mix)) | set(ids(parts.domain_only))
    assert not trained & set(ids(parts.domain_held_out) + ids(parts.general_held_out))


def test_the_mix_keeps_the_published_replay_share_and_the_domain_run_has_as_many_records() -> None:
    parts = split(recs("d", 80), recs("r", 20), None, held_out=4, sample=40)  # published share 20%
    assert len(parts.mix) == len(parts.domain_only) == 40
    assert parts.mix_replay == 8 == sum(r["id"].startswith("r") for r in parts.mix)
    assert all(r["id"].startswith("d") for r in parts.domain_only)


def test_sample_records_is_capped_by_the_domain_records_left() -> None:
    parts = split(recs("d", 10), recs("r", 4), None, held_out=2, sample=256)
    assert len(parts.domain_only) == len(parts.mix) == 8
    # replay held out first: 2 left for the mix, which wants round(8 * 4/14) = 2
    assert parts.mix_replay == 2


def test_general_uri_records_are_the_general_held_out_and_every_replay_record_can_be_trained_on() -> None:
    parts = split(recs("d", 20), recs("r", 5), recs("g", 3), held_out=4, sample=10)
    assert ids(parts.general_held_out) == ["g0", "g1", "g2"]
    assert parts.mix_replay == 2 and {"r0", "r1"} <= set(ids(parts.mix))


def test_without_replay_the_mix_is_domain_only() -> None:
    parts = split(recs("d", 20), [], recs("g", 5), held_out=4, sample=10)
    assert parts.mix_replay == 0 and parts.mix == parts.domain_only


@pytest.mark.parametrize(("domain", "replay", "general", "field"), [
    (4, 5, None, "evaluation.forgetting.heldOutRecords=4"),
    (20, 0, None, "the published replay records has none"),
    (20, 5, 0, "evaluation.forgetting.generalUri has none"),
])
def test_too_few_records_name_what_to_change(domain: int, replay: int, general: int | None, field: str) -> None:
    with pytest.raises(NotEnoughRecords, match=field.replace(".", r"\.")):
        split(recs("d", domain), recs("r", replay), None if general is None else recs("g", general),
              held_out=4, sample=10)
