"""Invariants of the three Dockerfiles (no Docker needed): pinned bases, a numeric non-root USER
with a passwd entry, no secrets, writable caches, and the entrypoint of the worker contract."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from datafoundry.api.stages import Stage
from datafoundry.controller.config import OperatorConfig
from datafoundry.pipeline import contract
from fixtures.images import IMAGES, REPO, parse

SECRETISH = re.compile(r"(?i)(secret|passw|token|credential|private|api_?key|access_?key)")
PINNED_TAG = re.compile(r":v?\d+\.\d+\.\d+[\w.-]*$")


def _uid(user: str) -> int:
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER must be numeric (runAsNonRoot can only verify a number), got {user!r}"
    assert not gid or gid.isdigit(), f"USER group must be numeric, got {user!r}"
    return int(uid)


@pytest.fixture(params=IMAGES)
def image(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_base_images_are_pinned(image: str) -> None:
    _, stages = parse(REPO / "images" / image / "Dockerfile")
    names = {s.name for s in stages if s.name}
    for stage in stages:
        if stage.base in names:
            continue  # an earlier stage of this file
        assert "@sha256:" in stage.base or PINNED_TAG.search(stage.base), (
            f"{image}: base {stage.base!r} is neither digest-pinned nor an exact version tag")
        assert not stage.base.endswith(":latest")


def test_multi_stage_and_final_user_is_numeric_non_root_with_passwd_entry(image: str) -> None:
    _, stages = parse(REPO / "images" / image / "Dockerfile")
    assert len(stages) >= 2, f"{image}: build in a separate stage, ship only the result"
    final = stages[-1]
    user = final.last("USER")
    assert user is not None, f"{image}: the final stage needs a USER"
    uid = _uid(user)
    assert uid != 0
    runs = " ".join(arg for op, arg in final.instructions if op == "RUN")
    # torch/kopf call getpass.getuser(): the UID needs an /etc/passwd entry.
    assert re.search(rf"useradd\b[^;&]*--uid {uid}\b", runs), f"{image}: no passwd entry for UID {uid}"


def test_uids_match_the_chart_and_the_operator(image: str) -> None:
    _, stages = parse(REPO / "images" / image / "Dockerfile")
    uid = _uid(stages[-1].last("USER") or "")
    values = yaml.safe_load((REPO / "charts" / "datafoundry" / "values.yaml").read_text())
    if image == "operator":
        assert uid == values["podSecurityContext"]["runAsUser"]
    else:
        assert uid == values["workers"]["runAsUser"] == OperatorConfig().worker_uid


def test_entrypoint_is_the_worker_contract(image: str) -> None:
    _, stages = parse(REPO / "images" / image / "Dockerfile")
    entrypoint = stages[-1].last("ENTRYPOINT")
    assert entrypoint is not None
    assert yaml.safe_load(entrypoint) == ["datafoundry"], f"{image}: exec-form ENTRYPOINT [\"datafoundry\"]"
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert "datafoundry" in scripts
    # Worker Jobs set no command, only args starting with `worker <stage>`.
    assert contract.worker_args(Stage.FILTER, 0)[:2] == ["worker", "filter"]
    if image == "operator":
        assert yaml.safe_load(stages[-1].last("CMD") or "null") == ["operator"]


def test_no_secrets_in_the_image(image: str) -> None:
    path = REPO / "images" / image / "Dockerfile"
    args, stages = parse(path)
    keys = list(args)
    for stage in stages:
        for op, rest in stage.instructions:
            if op == "ARG":
                keys.append(rest.partition("=")[0])
            elif op == "ENV":
                keys.extend(m.group(1) for m in re.finditer(r"(\w+)=", rest))
            elif op in ("COPY", "ADD"):
                assert not re.search(r"(\.env\b|\.pem\b|id_rsa|kubeconfig|\.netrc|s3\.env)", rest), (op, rest)
            elif op == "RUN":
                assert "--mount=type=secret" not in rest or "id=" in rest
    assert not [k for k in keys if SECRETISH.search(k)], f"{image}: secret-looking ARG/ENV {keys}"
    ignore = (path.parent / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore, "allow-list the build context (start from `*`)"
    assert not any(line.startswith("!.") for line in ignore), "never send dotfiles (.venv, .local) to the build"


def test_generator_extends_pinned_vllm_with_writable_caches() -> None:
    _, stages = parse(REPO / "images" / "generator" / "Dockerfile")
    final = stages[-1]
    assert final.base.startswith("vllm/vllm-openai:") and PINNED_TAG.search(final.base)
    env_text = " ".join(a for o, a in final.instructions if o == "ENV")
    env: dict[str, str] = {m.group(1): m.group(2) for m in re.finditer(r"(\w+)=(\S+)", env_text)}
    for var in ("HOME", "HF_HOME", "XDG_CACHE_HOME", "VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"):
        assert env.get(var, "").startswith("/tmp"), f"{var} must live on the /tmp emptyDir (read-only root)"
    # The operator mounts that emptyDir at /tmp in every worker pod.
    from datafoundry.api.spec import DataFoundryJobSpec
    from datafoundry.controller.children import _volumes

    spec = DataFoundryJobSpec.model_validate(yaml.safe_load(
        (REPO / "examples" / "quickstart.yaml").read_text())["spec"])
    _, mounts = _volumes("x", spec, shm="1Gi")
    assert {"name": "tmp", "mountPath": "/tmp"} in mounts
    assert {"name": "dshm", "mountPath": "/dev/shm"} in mounts


def _installed_extras(image: str) -> set[str]:
    """The extras of the datafoundry package the image's build stages pip-install (`.` or `".[a,b]"`)."""
    _, stages = parse(REPO / "images" / image / "Dockerfile")
    runs = " ".join(arg for stage in stages for op, arg in stage.instructions if op == "RUN")
    installs = re.findall(r"pip install\b[^&;]*?\s[\"']?\.(?:\[([\w,-]+)\])?[\"']?(?=\s|$)", runs)
    assert installs, f"{image}: no `pip install .` of the package"
    return {extra for group in installs for extra in group.split(",") if extra}


def test_only_the_publish_image_installs_the_report_extra() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("matplotlib") for dep in extras["report"])
    # The filter image runs the publish stage: it draws the quality report's plots.
    assert "report" in _installed_extras("filter")
    # The operator never draws: it stays lean.
    assert "report" not in _installed_extras("operator")
