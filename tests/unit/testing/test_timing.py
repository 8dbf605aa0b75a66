from __future__ import annotations

import pytest

from datafoundry.testing.timing import PartTimer, time_shares


class Clock:
    """A clock that the code under test advances by calling `tick`."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


class Engine:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def prepare(self) -> None:
        self.clock.tick(1.0)

    def generate(self) -> str:
        self.prepare()
        self.clock.tick(0.5)  # the engine's own work
        return "done"


def test_nested_parts_count_self_time_and_add_up_to_the_outer_wall_time() -> None:
    clock = Clock()
    timer = PartTimer(clock)
    engine = Engine(clock)
    with timer.patched([(engine, "prepare", "render"), (Engine, "generate", "engine")]), timer.part("worker"):
        clock.tick(2.0)
        assert engine.generate() == "done"
        assert engine.generate() == "done"
    assert timer.seconds == {"render": 2.0, "engine": 1.0, "worker": 2.0}
    assert timer.calls == {"render": 2, "engine": 2, "worker": 1}
    assert sum(timer.seconds.values()) == clock.now


def test_patched_restores_class_and_instance_attributes() -> None:
    clock = Clock()
    engine = Engine(clock)
    original = Engine.generate
    with PartTimer(clock).patched([(engine, "prepare", "render"), (Engine, "generate", "engine")]):
        assert Engine.generate is not original
        assert "prepare" in vars(engine)
    assert Engine.generate is original
    assert "prepare" not in vars(engine)


def test_a_part_that_raises_is_still_timed() -> None:
    clock = Clock()
    timer = PartTimer(clock)

    def boom() -> None:
        clock.tick(3.0)
        raise ValueError

    with pytest.raises(ValueError):
        timer.wrap(boom, "boom")()
    assert timer.seconds == {"boom": 3.0}


def test_time_shares_splits_inside_from_outside_parts() -> None:
    shares = time_shares(10.0, {"vllm_generate": 8.0, "render": 0.5, "writes": 1.0}, inside={"vllm_generate"})
    assert shares["inside_s"] == 8.0
    assert shares["outside_generate_s"] == pytest.approx(2.0)
    assert shares["outside_generate_share"] == pytest.approx(0.2)
    assert shares["outside_generate_s_by_part"] == pytest.approx({"writes": 1.0, "render": 0.5, "untimed": 0.5})
    assert list(shares["outside_generate_s_by_part"])[:2] == ["writes", "render"]  # largest first


def test_time_shares_without_untimed_rest_or_wall_time() -> None:
    assert "untimed" not in time_shares(3.0, {"a": 1.0, "b": 2.0}, inside={"a"})["outside_generate_s_by_part"]
    assert time_shares(0.0, {}, inside={"a"})["outside_generate_share"] == 0.0
