"""Shared pytest configuration: fixtures for the real test bed live in tests/fixtures/."""

pytest_plugins = [
    "fixtures.cluster",
    "fixtures.models",
    "fixtures.running_operator",
    "fixtures.podrunner",
    "fixtures.prometheus",
    "fixtures.faults",
    "fixtures.kueue",
]
