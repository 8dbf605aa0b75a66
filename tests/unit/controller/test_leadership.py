"""The leader gauge follows kopf's peering log lines (the replica's only signal of its state)."""

from __future__ import annotations

import logging

from datafoundry.controller import leadership


def test_kopf_peering_lines_map_to_active_and_standby() -> None:
    assert leadership.leadership_of("Resuming operations after the pause. Conflicting operators ... gone.") is True
    assert leadership.leadership_of("Pausing operations in favour of [<Peer ...>].") is False
    assert leadership.leadership_of("Pausing all operators, including self: [...]") is False
    assert leadership.leadership_of("Keep-alive in 'df' cluster-wide: ok.") is None


def test_standalone_is_active_and_a_peered_replica_stands_by_until_kopf_resumes_it() -> None:
    states: list[bool] = []
    leadership.follow(False, states.append)
    assert states == [True]

    states.clear()
    logger = logging.getLogger(leadership.PEERING_LOGGER)
    before = list(logger.handlers)
    try:
        leadership.follow(True, states.append)
        assert states == [False]
        logger.info("Resuming operations after the pause. Conflicting operators with the same priority are gone.")
        logger.info("Pausing operations in favour of [<Peer other: priority=200>].")
        logger.warning("Possibly conflicting operators with the same priority: [...].")
        assert states == [False, True, False]
    finally:
        for handler in logger.handlers[:]:
            if handler not in before:
                logger.removeHandler(handler)
