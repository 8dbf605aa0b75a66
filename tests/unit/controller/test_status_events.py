"""An Event for every phase change and every condition change, none for a new message alone."""

from __future__ import annotations

from typing import Any

from datafoundry.controller import conditions as cond
from datafoundry.controller.status_events import StatusEvent, status_events


def condition(type_: str, status: str, reason: str, message: str = "m") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def test_a_condition_that_changes_without_a_phase_change_gets_its_event() -> None:
    old = {"phase": "Generating", "conditions": [condition(cond.PROGRESSING, "True", "StageRunning")]}
    new = {"phase": "Generating", "conditions": [condition(cond.PROGRESSING, "True", "StageRunning", "later"),
                                                condition(cond.GENERATED, "True", "AllShardsDone", "round 1")]}
    assert status_events(old, new) == [StatusEvent("Normal", "AllShardsDone", "Generated=True: round 1")]


def test_a_phase_change_keeps_its_event_and_each_changed_condition_adds_one() -> None:
    old = {"phase": "Generating", "conditions": [condition(cond.ACCEPTED, "True", "Accepted"),
                                                condition(cond.PROGRESSING, "True", "StageRunning")]}
    new = {"phase": "Failed", "conditions": [condition(cond.ACCEPTED, "True", "Accepted"),
                                            condition(cond.PROGRESSING, "False", "BadInput", "bad"),
                                            condition(cond.FAILED, "True", "BadInput", "bad")]}
    assert status_events(old, new) == [
        StatusEvent("Warning", "Failed", "bad"),
        StatusEvent("Normal", "BadInput", "Progressing=False: bad"),
        StatusEvent("Warning", "BadInput", "Failed=True: bad"),
    ]


def test_a_reason_change_alone_is_a_condition_change() -> None:
    old = {"phase": "Generating", "conditions": [condition(cond.SUSPENDED, "False", "Resumed")]}
    new = {"phase": "Generating", "conditions": [condition(cond.SUSPENDED, "False", "Other")]}
    assert [e.reason for e in status_events(old, new)] == ["Other"]


def test_an_unchanged_status_is_worth_no_event() -> None:
    status = {"phase": "Succeeded", "conditions": [condition(cond.SUCCEEDED, "True", "Published")]}
    assert status_events(status, {**status, "conditions": [condition(cond.SUCCEEDED, "True", "Published", "x")]}) == []
