"""`generator.enforceEager`: as set; unset, eager on a CPU and compiled on a GPU."""

import pytest

from datafoundry.engines.vllm import VLLMOptions, llm_kwargs, resolve_enforce_eager


@pytest.mark.parametrize(("requested", "on_cpu", "eager"), [
    (None, True, True), (None, False, False),
    (True, False, True), (False, True, False), (True, True, True), (False, False, False),
])
def test_unset_is_eager_on_a_cpu_only_and_a_set_value_is_kept(requested: bool | None, on_cpu: bool,
                                                               eager: bool) -> None:
    assert resolve_enforce_eager(requested, on_cpu=on_cpu) is eager


def test_vllm_is_given_the_resolved_value_on_this_cpu() -> None:
    assert llm_kwargs("m")["enforce_eager"] is True
    assert llm_kwargs("m", VLLMOptions(enforce_eager=False))["enforce_eager"] is False
