"""A job's S3 connection settings (`spec.output`) as the environment its stores are opened with.

Part of the worker contract: `spec.output`'s endpoint, region and addressing style apply to every
s3:// URI of the job (output, seeds, documents, input, replay, eval sets, an s3:// model) and reach
a worker twice, with the same values: as pod environment variables from the operator
(`controller.children`, through `output_settings`) and in the plan's spec, which `output_env`
applies. The variable names are `contract.ENV_*`; `datafoundry.storage` reads them. The CA bundle of
`endpointCA` reaches a worker only as a mounted file (`AWS_CA_BUNDLE`); the operator never reads
the Secret or ConfigMap that holds it. Pure: computes an environment, opens nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from datafoundry.api.spec import AddressingStyle, DataFoundryJobSpec, Output
from datafoundry.pipeline import contract


def output_settings(output: Output) -> dict[str, str]:
    """The environment variables `spec.output` sets (only those it sets)."""
    settings = {
        contract.ENV_ENDPOINT: output.endpoint_url,
        contract.ENV_REGION: output.region,
        contract.ENV_ADDRESSING_STYLE: (
            output.addressing_style.value if output.addressing_style != AddressingStyle.AUTO else None),
    }
    return {k: v for k, v in settings.items() if v}


def output_env(spec: DataFoundryJobSpec, base: Mapping[str, str] | None = None, *,
               spec_wins: bool = False) -> dict[str, str]:
    """`base` (default: the process environment) plus `spec.output`'s S3 settings: the environment
    every reader and writer of the job's objects opens its store with.

    A worker keeps what its environment already says (`spec_wins=False`): in a pod that is the
    operator's copy of the same spec, and a test or a local run may point it at another endpoint.
    The operator's environment names its own default store, so for a job's output the spec wins."""
    env = dict(os.environ if base is None else base)
    for key, value in output_settings(spec.output).items():
        if spec_wins:
            env[key] = value
        else:
            env.setdefault(key, value)
    return env
