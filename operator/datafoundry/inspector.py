"""Reading a published dataset or a DataFoundryJob for display: `datafoundry preview` and `datafoundry status`.

Preview reads records the way the workers do (`records.objects.resolve` / `records.read.iter_records`, the
`storage` stores, the AWS_* environment for S3) and stops at the N-th record: a published dataset
(a prefix with `manifest.json`) is read shard by shard in the manifest's order; any other URI is
one object or a prefix of JSONL (optionally .gz/.zst) or Parquet objects. JSONL streams; a
Parquet object is read whole (its footer comes last).

Status reads one DataFoundryJob with the kubernetes client, with the kubeconfig that kubectl would
use, and renders its status (see `datafoundry.api.status` for the fields, camelCase here).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from datafoundry.api.meta import GROUP, KIND, PLURAL, VERSION
from datafoundry.api.status import ConditionType, Phase
from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import GENERATOR_PREFIX, BadInput
from datafoundry.records.fields import ID_FIELD, META_FIELD, SOURCE_FIELD
from datafoundry.records.objects import SourceObject, resolve
from datafoundry.records.read import LineErrors, detect_format, iter_records
from datafoundry.storage import ObjectStore, open_store, split_uri
from datafoundry.storage.s3 import ENV_RETRY_SECONDS

#: Longer field values are cut here in the preview (`--json` prints them whole).
MAX_FIELD_CHARS = 1500
#: An interactive command should not wait two minutes for a store that is down (workers do).
CLI_S3_RETRY_SECONDS = "5"
#: Seconds the API server gets to answer `datafoundry status`.
KUBE_TIMEOUT = 15

EXIT_UNREADABLE = 1
EXIT_NOT_FOUND = 2


class InspectError(Exception):
    """A one-line message for the user and the command's exit code."""

    exit_code = EXIT_UNREADABLE


class NotFound(InspectError):
    """Nothing at the URI, no such job, no cluster to ask: exit 2."""

    exit_code = EXIT_NOT_FOUND


class Unreadable(InspectError):
    """There is something, but it cannot be read (malformed line, corrupt object, store error): exit 1."""


class QuietConsole(Console):
    """A console on stdout that lets a closed pipe (`datafoundry preview URI | head`) end the
    command quietly: BrokenPipeError reaches the command (rich would exit with status 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


# --------------------------------------------------------------------------------------------
# preview: records of a dataset
# --------------------------------------------------------------------------------------------


def to_uri(target: str) -> str:
    """An s3:// or file:// URI for what the user typed (a plain path is a local file or directory)."""
    if target.startswith(("s3://", "file://")):
        return target
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", target):
        raise NotFound(f"{target}: only s3://, file:// and local paths are supported")
    return f"file://{Path(target).expanduser().resolve()}"


def preview_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID...) as the workers read it,
    with a short S3 retry budget unless one is set."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault(ENV_RETRY_SECONDS, CLI_S3_RETRY_SECONDS)
    return env


@dataclass(frozen=True)
class Located:
    """A record and where it was read: object URI and line (or Parquet row) number from 1."""

    uri: str
    line: int
    record: dict[str, Any]
    unit: str = "line"

    @property
    def where(self) -> str:
        return f"{self.uri} {self.unit} {self.line}"


@dataclass
class Dataset:
    """What a URI names: a published dataset (`manifest` set) or plain data objects."""

    target: str
    uri: str
    objects: list[SourceObject]
    fmt: str = "auto"
    manifest: dict[str, Any] | None = None
    manifest_uri: str | None = None
    errors: LineErrors = field(default_factory=LineErrors)

    @property
    def records(self) -> int | None:
        """Records in the dataset when its manifest says so."""
        value = (self.manifest or {}).get("records")
        return value if isinstance(value, int) else None

    def header(self) -> Text:
        """One line on what is being read."""
        if self.manifest is None:
            n = len(self.objects)
            return Text(f"{self.uri}: {n} object{'s' if n != 1 else ''}", style="dim")
        m = self.manifest
        job = m.get("job") or {}
        fmt = str(m.get("format", "?"))
        if m.get("compression") not in (None, "none"):
            fmt += f"/{m['compression']}"
        n = len(self.objects)
        parts = [f"{self.uri}: published dataset", f"{self.records or 0:,} records in {n} shard{'s' if n != 1 else ''}",
                 fmt]
        if job.get("name"):
            parts.append(f"job {job.get('namespace', '?')}/{job['name']}")
        if m.get("model"):
            parts.append(f"model {m['model']}")
        return Text(", ".join(parts), style="dim")


def _manifest_root(uri: str) -> str | None:
    """The dataset prefix to look for manifest.json under (None: the URI names a plain object)."""
    scheme, bucket, prefix = split_uri(uri)
    if prefix == layout.MANIFEST or prefix.endswith("/" + layout.MANIFEST):
        prefix = prefix[: -len(layout.MANIFEST)].rstrip("/")
    if scheme == "file":
        path = Path(prefix).expanduser().resolve()
        return f"file://{path}" if path.is_dir() else None
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def _published(target: str, store: ObjectStore, data: bytes) -> Dataset:
    manifest_uri = store.uri(layout.MANIFEST)
    try:
        manifest = json.loads(data)
    except ValueError as e:
        raise Unreadable(f"{manifest_uri}: not valid JSON ({e})") from None
    shards = manifest.get("shards") if isinstance(manifest, dict) else None
    if not isinstance(shards, list) or not all(isinstance(s, dict) and isinstance(s.get("key"), str)
                                               for s in shards):
        raise Unreadable(f"{manifest_uri}: not a dataset manifest (no list of shards with keys)")
    declared = manifest.get("format")
    objects = [SourceObject(store, s["key"], store.uri(s["key"])) for s in shards]
    return Dataset(target=target, uri=store.uri("").rstrip("/"), objects=objects,
                   fmt=declared if declared in ("jsonl", "parquet") else "auto",
                   manifest=manifest, manifest_uri=manifest_uri)


def open_dataset(target: str, env: Mapping[str, str]) -> Dataset:
    """What `target` names: a published dataset when manifest.json is there, else its data objects.

    NotFound when there is nothing; a prefix with data objects and other files (a README.md)
    is read as its JSONL and Parquet objects only."""
    try:
        uri = to_uri(target)
        root = _manifest_root(uri)
    except ValueError as e:
        raise NotFound(str(e)) from None
    with _storage_errors(target):
        if root is not None:
            store = open_store(root, env)
            data = store.get(layout.MANIFEST)
            if data is not None:
                return _published(target, store, data)
        objects = resolve(uri, env)
    if not objects:
        raise NotFound(f"{target}: nothing there (no dataset manifest, no object, no prefix with data)")
    data_objects = [o for o in objects if detect_format(o.name) != "text"]
    return Dataset(target=target, uri=uri.rstrip("/"), objects=data_objects or objects)


@contextmanager
def _storage_errors(target: str) -> Iterator[None]:
    """Store failures as one-line errors: a missing bucket is NotFound, the rest Unreadable."""
    try:
        yield
    except InspectError:
        raise
    except BadInput as e:
        raise Unreadable(str(e)) from None
    except FileNotFoundError as e:
        raise NotFound(f"{target}: nothing there ({e.strerror or e})") from None
    except OSError as e:
        raise Unreadable(f"{target}: {e.strerror or e}") from None
    except Exception as e:
        if not type(e).__module__.startswith("botocore"):
            raise
        response = getattr(e, "response", None) or {}
        if str(response.get("Error", {}).get("Code", "")) == "NoSuchBucket":
            raise NotFound(f"{target}: nothing there (no such bucket)") from None
        raise Unreadable(f"{target}: {e}") from None


def iter_preview(ds: Dataset) -> Generator[Located, None, None]:
    """The dataset's records in order, read only as far as they are consumed.

    Unreadable at the first malformed line (naming object and line) or unreadable object."""
    errors = ds.errors
    with _storage_errors(ds.target):
        for obj in ds.objects:
            if ds.manifest is not None and not obj.store.exists(obj.key):
                raise Unreadable(f"{obj.uri}: missing, though {ds.manifest_uri} names it")
            unit = "row" if detect_format(obj.name, ds.fmt) == "parquet" else "line"
            records = iter_records(obj, ds.fmt, errors)
            try:
                for line, record in records:
                    if errors.malformed:
                        break
                    yield Located(obj.uri, line, record, unit)
            finally:
                close = getattr(records, "close", None)
                if close is not None:
                    close()  # the object's stream, at once, when the preview stops early
            if errors.malformed:
                raise Unreadable(f"malformed line: {errors.examples[0]}")


def _is_messages(value: Any) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(m, Mapping) and "role" in m and "content" in m for m in value))


def _field_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if _is_messages(value):
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in value)
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def field_value(value: Any, limit: int = MAX_FIELD_CHARS) -> Text:
    """A field's value as text (chat messages as `role: content`), cut at `limit` characters with a note."""
    text = _field_text(value)
    out = Text(text[:limit])
    if len(text) > limit:
        out.append(f" … [truncated: {len(text) - limit:,} more of {len(text):,} characters; --json shows all]",
                   style="dim italic")
    return out


_META_SHOWN = ("strategy", "model")


def meta_summary(record: Mapping[str, Any]) -> Text:
    """`strategy · model · judge score · _source` of a record, and how many meta fields are not shown."""
    meta = record.get(META_FIELD)
    parts: list[str] = []
    hidden = 0
    if isinstance(meta, Mapping):
        parts += [f"{k} {meta[k]}" for k in _META_SHOWN if meta.get(k) is not None]
        judge = meta.get("judge")
        score = judge.get("score") if isinstance(judge, Mapping) else None
        if isinstance(score, int | float) and not isinstance(score, bool):
            parts.append(f"judge {score:g}")
        hidden = len([k for k in meta if k not in (*_META_SHOWN, "judge")])
    elif meta is not None:
        parts.append(f"meta {_field_text(meta)[:200]}")
    if record.get(SOURCE_FIELD) is not None:
        parts.append(f"{SOURCE_FIELD} {record[SOURCE_FIELD]}")
    if hidden:
        parts.append(f"+{hidden} meta fields")
    return Text(" · ".join(parts) or "no meta", style="dim")


def render_record(index: int, loc: Located) -> Panel:
    """One record as a panel: its content fields, then its meta line; titled by number and id."""
    record = loc.record
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    for name, value in record.items():
        if name in (ID_FIELD, META_FIELD, SOURCE_FIELD) or value is None:
            continue
        grid.add_row(Text(name), field_value(value))
    title = Text(f"#{index}")
    if record.get(ID_FIELD) is not None:
        title.append(f"  {record[ID_FIELD]}")
    return Panel(Group(grid, Text(""), meta_summary(record)), title=title, title_align="left",
                 subtitle=Text(loc.where), subtitle_align="right")


# --------------------------------------------------------------------------------------------
# status: one DataFoundryJob
# --------------------------------------------------------------------------------------------


@dataclass
class Cluster:
    """An API client and the namespace the kubeconfig's context defaults to."""

    api: Any
    namespace: str
    server: str


def _kubeconfig_paths(path: str) -> list[Path]:
    return [Path(p).expanduser() for p in path.split(os.pathsep) if p]


def connect(kubeconfig: str | None = None, context: str | None = None) -> Cluster:
    """A client as kubectl would make it: --kubeconfig, else $KUBECONFIG (a list of files), else
    ~/.kube/config; in a pod without any, its ServiceAccount. NotFound when there is none."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException

    path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    cfg = k8s.Configuration()
    if not any(p.is_file() for p in _kubeconfig_paths(path)):
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            try:
                k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
                ns_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                namespace = ns_file.read_text().strip() if ns_file.is_file() else "default"
            except (ConfigException, OSError) as e:
                raise NotFound(f"no kubeconfig and no usable in-cluster config: {e}") from None
            return Cluster(api=k8s.ApiClient(cfg), namespace=namespace, server=str(cfg.host))
        where = "--kubeconfig" if kubeconfig else "$KUBECONFIG" if os.environ.get("KUBECONFIG") else "default"
        raise NotFound(f"no kubeconfig: {path} ({where}) does not exist; set KUBECONFIG or pass --kubeconfig")
    try:
        contexts, current = k8s_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=path)
        if context and not any(c.get("name") == context for c in contexts or []):
            raise NotFound(f"kubeconfig {path} has no context {context!r}")
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, context=context, client_configuration=cfg, persist_config=False)
    except (ConfigException, OSError, ValueError, TypeError, KeyError) as e:
        raise NotFound(f"kubeconfig {path}: {e}") from None
    wanted = context or (current or {}).get("name")
    chosen = next((c for c in contexts or [] if c.get("name") == wanted), None) or {}
    namespace = (chosen.get("context") or {}).get("namespace") or "default"
    cfg.retries = 1  # one more try on a dropped connection; kubectl does not wait longer
    return Cluster(api=k8s.ApiClient(cfg), namespace=namespace, server=str(cfg.host))


def get_job(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """The DataFoundryJob as the API server has it; NotFound naming namespace/name when it is not
    there, when its API is not installed, or when the cluster cannot be reached or refuses."""
    import logging

    from kubernetes import client as k8s

    logging.getLogger("urllib3").setLevel(logging.ERROR)  # no retry warnings around the one-line error
    custom = k8s.CustomObjectsApi(cluster.api)
    what = f"{KIND} {namespace}/{name}"
    try:
        obj: Any = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                                  _request_timeout=KUBE_TIMEOUT)
    except k8s.ApiException as e:
        reason = _api_message(e)
        if e.status == 404:
            details = _api_body(e).get("details") or {}
            if details.get("name") == name:
                raise NotFound(f"{what} not found") from None
            raise NotFound(f"{what}: the {KIND} API ({PLURAL}.{GROUP}/{VERSION}) is not installed on "
                           f"{cluster.server}") from None
        if e.status in (401, 403):
            raise NotFound(f"{what}: not allowed on {cluster.server}: {reason}") from None
        raise NotFound(f"{what}: the API server at {cluster.server} answered {e.status}: {reason}") from None
    except Exception as e:
        if _is_connection_error(e):
            raise NotFound(f"{what}: cannot reach the cluster at {cluster.server} "
                           f"({_connection_reason(e)})") from None
        raise
    if not isinstance(obj, dict):
        raise NotFound(f"{what}: unexpected answer from {cluster.server}")
    return obj


def _api_body(e: Any) -> dict[str, Any]:
    try:
        body = json.loads(e.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _api_message(e: Any) -> str:
    return str(_api_body(e).get("message") or e.reason or e.status)


def _is_connection_error(e: BaseException) -> bool:
    return isinstance(e, OSError) or type(e).__module__.startswith("urllib3")


def _connection_reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None) or e
    text = str(reason)
    # urllib3: "<...NewConnectionError object at 0x...>: Failed to establish a new connection: [Errno 111] ..."
    return re.sub(r"^<[^>]*>:\s*", "", text).splitlines()[0] if text else type(e).__name__


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """A duration the way kubectl prints ages: 45s, 5m30s, 42m, 5h3m, 36h, 3d4h, 12d."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d"


def age(value: Any, now: datetime) -> str:
    t = _parse_time(value)
    return human_duration((now - t).total_seconds()) if t else "-"


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n:,} B" if unit == "B" else f"{size:.1f} {unit} ({n:,} bytes)"
        size /= 1024
    raise AssertionError("unreachable")


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def quality_value(value: Any) -> str:
    """Floats to 3 decimals, whole numbers as they are, anything else as text."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _flatten(d: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in d.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        elif value is not None:
            yield f"{prefix}{key}", value


_PHASE_STYLE: dict[str, str] = {Phase.SUCCEEDED: "bold green", Phase.FAILED: "bold red",
                                 Phase.SUSPENDED: "bold yellow", Phase.PENDING: "bold"}


def _section(title: str) -> Table:
    return Table(title=title, title_justify="left", title_style="bold", show_header=False, box=None,
                 padding=(0, 2))


def _conditions(status: Mapping[str, Any], now: datetime) -> Table | None:
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]
    if not conditions:
        return None
    table = Table(title="conditions", title_justify="left", title_style="bold", box=None, padding=(0, 2))
    for col in ("TYPE", "STATUS", "REASON", "AGE"):
        table.add_column(col, no_wrap=True)
    table.add_column("MESSAGE", ratio=1, overflow="fold")
    for c in conditions:
        style = {"True": "green", "False": "dim"}.get(str(c.get("status")), "yellow")
        if c.get("type") == ConditionType.FAILED and c.get("status") == "True":
            style = "red"
        table.add_row(Text(str(c.get("type", "?"))), Text(str(c.get("status", "?")), style=style),
                      Text(str(c.get("reason", ""))), Text(age(c.get("lastTransitionTime"), now)),
                      Text(str(c.get("message", ""))))
    return table


def _funnel(progress: Mapping[str, Any], now: datetime) -> Table:
    table = _section("funnel")
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    target = progress.get("target") or 0
    table.add_row("generated", _count(progress.get("generated", 0)))
    rejected = {str(k): v for k, v in (progress.get("rejected") or {}).items()}
    at_generation = sorted(k for k in rejected if k.startswith(GENERATOR_PREFIX))
    for key in at_generation:
        table.add_row(Text(f"  dropped at generation: {key.removeprefix(GENERATOR_PREFIX)}"),
                      f"-{_count(rejected[key])}")
    for key, n in rejected.items():
        if not key.startswith(GENERATOR_PREFIX):
            table.add_row(Text(f"  dropped by {key}"), f"-{_count(n)}")
    accepted = _count(progress.get("accepted", 0))
    if target:
        accepted += f" / {_count(target)} ({progress.get('percent', 0)}%)"
    table.add_row("accepted", accepted)
    if progress.get("replay"):
        table.add_row("replay mixed in", _count(progress["replay"]))
    if progress.get("promptTokens") or progress.get("completionTokens"):
        table.add_row("tokens (prompt / completion)",
                      f"{_count(progress.get('promptTokens', 0))} / {_count(progress.get('completionTokens', 0))}")
    if progress.get("gpuHours"):
        table.add_row("GPU-hours (generator pods)", f"{progress['gpuHours']:.4g}")
    if progress.get("round"):
        table.add_row("round", _count(progress["round"]))
    if progress.get("etaSeconds") is not None:
        table.add_row("ETA", human_duration(progress["etaSeconds"]))
    if progress.get("lastUpdateTime"):
        table.add_row("updated", f"{age(progress['lastUpdateTime'], now)} ago")
    return table


def _shards(shards: Mapping[str, Any]) -> Table | None:
    rows = [(stage, c) for stage, c in shards.items() if isinstance(c, Mapping) and any(c.values())]
    if not rows:
        return None
    table = Table(title="shards", title_justify="left", title_style="bold", box=None, padding=(0, 2))
    table.add_column("STAGE")
    for col in ("TOTAL", "ACTIVE", "SUCCEEDED", "FAILED"):
        table.add_column(col, justify="right")
    for stage, c in rows:
        table.add_row(Text(stage), *(_count(c.get(k, 0)) for k in ("total", "active", "succeeded", "failed")))
    return table


def _output(output: Mapping[str, Any], now: datetime) -> Table:
    table = _section("output")
    table.add_column(no_wrap=True)
    table.add_column(ratio=1, overflow="fold")
    if output.get("uri"):
        table.add_row("uri", Text(str(output["uri"])))
    if output.get("records") is not None:
        table.add_row("records", _count(output["records"]))
    if isinstance(output.get("bytes"), int):
        table.add_row("bytes", human_bytes(output["bytes"]))
    if output.get("manifestUri"):
        table.add_row("manifest", Text(str(output["manifestUri"])))
    if output.get("sha256"):
        table.add_row("sha256", Text(str(output["sha256"])))
    if output.get("publishedTime"):
        table.add_row("published", f"{age(output['publishedTime'], now)} ago")
    decon = output.get("decontamination")
    if isinstance(decon, Mapping):
        table.add_row("decontamination",
                      f"{_count(decon.get('records', 0))} records dropped; matched "
                      f"{_count(decon.get('matchedItems', 0))} of {_count(decon.get('items', 0))} eval items "
                      f"({_count(decon.get('indexed', 0))} indexed, {_count(decon.get('shortItems', 0))} short, "
                      f"{_count(decon.get('emptyItems', 0))} empty)")
    return table


def _quality(quality: Mapping[str, Any]) -> Table | None:
    items = sorted(_flatten(quality))
    if not items:
        return None
    table = _section("quality")
    table.add_column(no_wrap=True)
    table.add_column(justify="right", overflow="fold")
    for key, value in items:
        table.add_row(Text(key), Text(quality_value(value)))
    return table


def render_status(obj: Mapping[str, Any], now: datetime | None = None) -> Group:
    """The job's phase and ages, its conditions, the funnel, shards, output and quality."""
    now = now or datetime.now(UTC)
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    phase = str(status.get("phase") or "-")
    head = Table.grid(padding=(0, 2))
    head.add_row(Text(f"{meta.get('namespace', '?')}/{meta.get('name', '?')}", style="bold"),
                 Text(phase, style=_PHASE_STYLE.get(phase, "bold cyan")),
                 f"age {age(meta.get('creationTimestamp'), now)}")
    parts: list[RenderableType] = [head]
    facts = _section("")
    facts.add_column(no_wrap=True)
    facts.add_column(ratio=1, overflow="fold")
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if generation is not None:
        facts.add_row("generation", f"{generation} (observed {observed if observed is not None else '-'})")
    started, completed = _parse_time(status.get("startTime")), _parse_time(status.get("completionTime"))
    if started:
        facts.add_row("started", f"{age(status['startTime'], now)} ago")
    if completed:
        took = f" (took {human_duration((completed - started).total_seconds())})" if started else ""
        facts.add_row("completed", f"{age(status['completionTime'], now)} ago{took}")
    if status.get("planHash"):
        facts.add_row("plan", Text(f"{status['planHash']}" + (f" (ConfigMap {status['planConfigMap']})"
                                                               if status.get("planConfigMap") else "")))
    if facts.row_count:
        parts.append(facts)
    if not status:
        parts.append(Text("no status yet: the operator has not reconciled this job", style="yellow"))
        return Group(*parts)
    for section in (_conditions(status, now),
                    _funnel(status["progress"], now) if isinstance(status.get("progress"), Mapping) else None,
                    _shards(status["shards"]) if isinstance(status.get("shards"), Mapping) else None,
                    _output(status["output"], now) if isinstance(status.get("output"), Mapping) else None,
                    _quality(status["output"]["quality"]) if isinstance(status.get("output"), Mapping)
                    and isinstance(status["output"].get("quality"), Mapping) else None):
        if section is not None:
            parts += [Text(""), section]
    return Group(*parts)


__all__ = [
    "Cluster",
    "Dataset",
    "InspectError",
    "Located",
    "NotFound",
    "QuietConsole",
    "Unreadable",
    "connect",
    "get_job",
    "iter_preview",
    "open_dataset",
    "render_record",
    "render_status",
]


def render_report(report: Mapping[str, Any], source: str) -> Group:
    """A quality report for the terminal: verdicts first, then the headline indicators and fields."""
    parts: list[RenderableType] = [Text(f"{source}: {report['size']['records']:,} records "
                                        f"(sample {report['sample']['records']:,}, seed {report['sample']['seed']})",
                                        style="dim")]
    findings = _section("findings")
    findings.add_column(no_wrap=True)
    findings.add_column(ratio=1, overflow="fold")
    for f in report["findings"]:
        findings.add_row(Text(f["level"], style="bold yellow" if f["level"] == "warning" else "green"),
                         Text(f"{f['message']} ({f['indicator']})"))
    parts.append(findings)
    d, process, domain = report["diversity"], report["process"], report.get("domain")
    indicators = _section("indicators")
    indicators.add_column(no_wrap=True)
    indicators.add_column(justify="right")
    rows: list[tuple[str, Any]] = [
        ("distinct-1 / 2 / 3", f"{d['distinct1']:.3f} / {d['distinct2']:.3f} / {d['distinct3']:.3f}"),
        ("compression ratio", d["compressionRatio"]),
        (f"records repeating a {d['repeatedNgram']['n']}-word phrase", d["repeatedNgram"]["share"]),
        (f"Self-BLEU ({d['selfBleu']['sample']} records)", d["selfBleu"]["value"]),
        ("stop-word share", process.get("stopwordShare")),
        ("languages", ", ".join(f"{k} {v:.0%}" for k, v in (process.get("languages") or {}).items()) or None),
    ]
    if domain:
        rows += [("domain similarity p10 / p50 / p90",
                  " / ".join(f"{domain['similarity'][k]:.3f}" for k in ("p10", "p50", "p90"))),
                 (f"under {domain['threshold']}", domain["belowThreshold"])]
    novelty = report.get("novelty")
    if novelty:
        rows += [("max ROUGE-L to a seed p10 / p50 / p90",
                  " / ".join(f"{novelty['maxRougeLToSeeds'][k]:.3f}" for k in ("p10", "p50", "p90"))),
                 (f"prompts restating a seed (>= {novelty['threshold']})", novelty["copiesSeed"])]
    for name, value in rows:
        indicators.add_row(name, Text(quality_value(value) if value is not None else "-"))
    parts.append(indicators)
    fields = Table(title="fields (characters)", title_justify="left", title_style="bold", box=None, padding=(0, 2))
    for column in ("field", "records", "min", "p10", "p50", "p90", "max"):
        fields.add_column(column, justify="left" if column == "field" else "right", no_wrap=True)
    for name, f in report["fields"].items():
        c = f["chars"] or {}
        fields.add_row(name, f"{f['records']:,}", *(f"{c.get(k, 0):,.0f}" for k in ("min", "p10", "p50", "p90", "max")))
    parts.append(fields)
    if domain and domain["leastMatching"]:
        least = _section("least like the domain")
        least.add_column(no_wrap=True)
        least.add_column(justify="right")
        least.add_column(ratio=1, overflow="fold")
        for r in domain["leastMatching"]:
            least.add_row(r["id"], f"{r['similarity']:.3f}", Text(r["text"]))
        parts.append(least)
    return Group(*parts)
