"""Test support: the test bed, the operator and pod runner as users run them, spec and polling helpers."""
