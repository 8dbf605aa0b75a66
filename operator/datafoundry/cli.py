"""The `datafoundry` command.

Each subcommand is a pair of small functions: ``_add_<name>(subparsers)`` declares it and sets
``func`` to ``_cmd_<name>(args) -> int``. Add new commands to ``_COMMANDS``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from datafoundry import __version__

Command = Callable[[argparse.Namespace], int]


# --------------------------------------------------------------------------------------------
# datafoundry crd
# --------------------------------------------------------------------------------------------


def _add_crd(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("crd", help="print or write the DataFoundryJob CustomResourceDefinition (YAML)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=_cmd_crd)


def _cmd_crd(args: argparse.Namespace) -> int:
    from datafoundry.api.crd import render_crd_yaml

    text = render_crd_yaml()
    if args.output:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


# --------------------------------------------------------------------------------------------
# datafoundry validate
# --------------------------------------------------------------------------------------------


def _add_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "validate",
        help="check DataFoundryJob manifests offline (schema and cross-field rules)",
        description=(
            "Validate DataFoundryJob manifests with the same rules as the CRD. Multi-document YAML is "
            "allowed; documents of other kinds are skipped. Use - for stdin. Exit 0 if all are valid."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=_cmd_validate)


def _documents(text: str) -> Iterator[tuple[int, Any, str | None]]:
    """(doc number from 1, decoded document, syntax error) for each YAML document."""
    import yaml

    docs = yaml.safe_load_all(text)
    n = 0
    while True:
        n += 1
        try:
            doc = next(docs)
        except StopIteration:
            return
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            context = getattr(exc, "context", None)
            yield n, None, f"{where}YAML syntax error: {problem}" + (f" ({context})" if context else "")
            return
        yield n, doc, None


def validate_text(name: str, text: str, out: TextIO) -> bool:
    """Validate every document in ``text``; print errors as ``NAME:doc N: path: message``."""
    from datafoundry.api.meta import GROUP, KIND
    from datafoundry.api.validate import size_warning, validate_manifest

    ok = True
    checked = 0
    for n, doc, syntax_error in _documents(text):
        if syntax_error is not None:
            print(f"{name}:doc {n}: {syntax_error}", file=out)
            return False
        if doc is None:
            continue
        if (
            isinstance(doc, dict)
            and doc.get("kind") != KIND
            and not str(doc.get("apiVersion", "")).startswith(GROUP + "/")
        ):
            print(f"{name}:doc {n}: skipped ({doc.get('kind', 'no kind')})", file=out)
            continue
        checked += 1
        _, errors = validate_manifest(doc)
        for err in errors:
            print(f"{name}:doc {n}: {err}", file=out)
        warning = size_warning(doc)
        if warning is not None:
            print(f"{name}:doc {n}: {warning}", file=out)
        ok = ok and not errors
    if checked == 0:
        print(f"{name}: no DataFoundryJob found", file=out)
        return False
    if ok:
        print(f"{name}: valid", file=out)
    return ok


def _cmd_validate(args: argparse.Namespace) -> int:
    ok = True
    for file in args.files:
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            print(f"{file}: {exc.strerror or exc}", file=sys.stdout)
            ok = False
            continue
        ok = validate_text(file, text, sys.stdout) and ok
    return 0 if ok else 1


# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# datafoundry operator
# --------------------------------------------------------------------------------------------


def _add_operator(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "operator",
        help="run the operator (kopf) against the cluster of KUBECONFIG or the in-cluster ServiceAccount",
    )
    p.add_argument("-n", "--namespace", action="append", default=[], metavar="NS",
                   help="watch only this namespace (repeatable); default: $DATAFOUNDRY_NAMESPACES, else all")
    p.add_argument("--metrics-port", type=int, default=8080, help="Prometheus /metrics port (default 8080)")
    p.add_argument("--health-port", type=int, default=8081, help="liveness /healthz port (default 8081)")
    p.add_argument("--bind", default="0.0.0.0", help="address for both ports (default 0.0.0.0)")  # noqa: S104
    p.add_argument("--peering", metavar="NAME",
                   help="kopf peering name: replicas sharing it elect one active replica")
    p.add_argument("--peering-priority", type=int, metavar="N",
                   help="kopf peering priority (highest is active); default: random per process, so the"
                        " replicas of one Deployment never tie (kopf pauses every replica on a tie)")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=_cmd_operator)


def _cmd_operator(args: argparse.Namespace) -> int:
    from datafoundry.controller.config import ConfigError, OperatorConfig

    try:  # a bad setting (e.g. the chart's workers.env) stops the operator before it acts, naming it
        config = OperatorConfig.from_env()
    except ConfigError as e:
        print(f"datafoundry operator: {e}", file=sys.stderr)
        return 2
    from datafoundry.controller.run import run_operator

    namespaces = args.namespace or list(config.namespaces)
    run_operator(namespaces=namespaces, metrics_port=args.metrics_port, health_port=args.health_port,
                 bind=args.bind, peering=args.peering, peering_priority=args.peering_priority,
                 verbose=args.verbose)
    return 0


# --------------------------------------------------------------------------------------------
# datafoundry worker <stage>
# --------------------------------------------------------------------------------------------


def _add_worker(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    import importlib

    from datafoundry.workers import STAGES

    p = sub.add_parser("worker", help="run one stage of a job's pipeline (the entrypoint of worker pods)")
    stages = p.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for stage, module_name in STAGES.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue  # a stage that is not built yet is simply not offered
        sp = stages.add_parser(stage, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(sp)
        sp.set_defaults(func=module.run)


# --------------------------------------------------------------------------------------------
# datafoundry run
# --------------------------------------------------------------------------------------------


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run a DataFoundryJob manifest on this machine, without Kubernetes (interrupt and rerun to resume)",
    )
    p.add_argument("file", metavar="FILE", help="a DataFoundryJob manifest (YAML)")
    p.add_argument("--output", metavar="URI", help="override spec.output.uri (file://DIR or s3://bucket/prefix)")
    p.add_argument("--model", metavar="PATH_OR_ID", help="override spec.generator.model")
    p.add_argument("--parallel", type=int, default=2, help="shards run at once (default 2)")
    p.add_argument("--engine-per-shard", action="store_true",
                   help="with the vllm engine, load the model in every generator shard process as pods do "
                        "(default: one local OpenAI-compatible vLLM server loads it once for the whole run)")
    p.add_argument("--stop-before", choices=("evaluate", "publish"),
                   help="stop when the records are final, before this stage (the staging objects are kept: "
                        "the same command without it goes on from there)")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    import yaml
    from pydantic import ValidationError

    from datafoundry.api.errors import field_errors
    from datafoundry.api.spec import DataFoundryJobSpec, EngineType
    from datafoundry.api.stages import Stage
    from datafoundry.local.runner import RunFailed, SharedEngineFailed, prepare, run, shared_engine
    from datafoundry.local.view import live_view
    from datafoundry.pipeline import layout

    try:
        doc = yaml.safe_load(Path(args.file).read_text())
    except (OSError, yaml.YAMLError) as e:
        print(f"{args.file}: {e}", file=sys.stderr)
        return 1
    if not isinstance(doc, dict) or doc.get("kind") != "DataFoundryJob":
        print(f"{args.file}: not a DataFoundryJob manifest", file=sys.stderr)
        return 1
    spec_doc = dict(doc.get("spec") or {})
    if args.output:
        spec_doc["output"] = {**spec_doc.get("output", {}), "uri": args.output}
        if args.output.startswith("file://"):
            spec_doc["output"].pop("credentials", None)
    if args.model and spec_doc.get("generator"):
        spec_doc["generator"] = {**spec_doc["generator"], "model": args.model}
    try:
        spec = DataFoundryJobSpec.model_validate(spec_doc)
    except ValidationError as e:
        for fe in field_errors(e, prefix="spec"):
            print(f"{args.file}: {fe}", file=sys.stderr)
        return 1
    name = str((doc.get("metadata") or {}).get("name") or Path(args.file).stem)
    workdir = Path(".local") / "run"
    received: list[int] = []

    def interrupt(signum: int, _frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    # Set explicitly: a shell starts background commands with SIGINT ignored, and SIGTERM (kill,
    # timeout, a supervisor) must stop the shard processes and the shared server too, which run in
    # sessions of their own.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        with contextlib.ExitStack() as stack:
            shared = None
            gen = spec.generator
            if gen is not None and gen.engine.type == EngineType.VLLM and not args.engine_per_shard:
                print(f"loading {gen.model} once for the whole run (a local vLLM server)", file=sys.stderr)
                shared = stack.enter_context(shared_engine(gen, workdir / "server"))
            job = prepare(name, spec, parallel=args.parallel, workdir=workdir, shared_endpoint=shared)
            with live_view(job):
                result = run(job, stop_before=Stage(args.stop_before) if args.stop_before else None)
    except KeyboardInterrupt:  # run() has already stopped the shard processes
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 128 + (received[0] if received else signal.SIGINT)
    except (RunFailed, SharedEngineFailed) as e:
        print(f"failed: {e}", file=sys.stderr)
        return 1
    if result is None:
        kept = job.store.uri(layout.staging_prefix(job.uid))
        print(f"stopped before {args.stop_before}: {job.counts.accepted} records passed the filters and dedup; the "
              f"staging objects are kept under {kept}/ (run the same command without --stop-before to go on)")
        return 0
    card = job.store.uri("README.md")
    print(f"published {result.accepted} records to {spec.output.uri}")
    print(f"manifest: {result.manifest_uri}")
    print(f"dataset card: {card}")
    _print_findings(job.store)
    if job.forgetting is not None:
        print(f"forgetting guard: {job.forgetting.message}")
    return 0


def _print_findings(store: Any) -> None:
    """The quality report's verdicts, where the run wrote one."""
    import json

    from datafoundry.pipeline import layout

    data = store.get(layout.QUALITY)
    if data is None:
        return
    print(f"quality report: {store.uri(layout.QUALITY)} (`datafoundry report {_dataset_uri(store)}` for a summary)")
    for finding in json.loads(data).get("findings", []):
        print(f"  {finding['level']}: {finding['message']}")


def _dataset_uri(store: Any) -> str:
    return str(store.uri("")).rstrip("/")


# --------------------------------------------------------------------------------------------
# datafoundry preview
# --------------------------------------------------------------------------------------------


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _add_preview(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "preview",
        help="print the first records of a dataset (a published prefix, JSONL or Parquet; local, file:// or s3://)",
        description=(
            "Print the first N records of a published dataset (a prefix with manifest.json: its shards in "
            "order) or of a JSONL (.gz, .zst) or Parquet object or prefix. S3 endpoint and credentials come "
            "from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, as for the workers. Reading "
            "stops at the N-th record. Exit 2 when there is nothing at URI, 1 when it cannot be read."
        ),
    )
    p.add_argument("uri", metavar="URI", help="s3://bucket/prefix, file:///path or a local path")
    p.add_argument("-n", "--records", type=_positive, default=5, metavar="N", help="records to print (default 5)")
    p.add_argument("--json", action="store_true", help="print the records as JSONL, whole and unformatted")
    p.set_defaults(func=_cmd_preview)


def _cmd_preview(args: argparse.Namespace) -> int:
    import itertools

    from datafoundry.inspector import (
        InspectError,
        QuietConsole,
        iter_preview,
        open_dataset,
        preview_env,
        render_record,
    )
    from datafoundry.records.encode import dumps

    console = QuietConsole(file=sys.stdout)
    shown = 0
    try:
        ds = open_dataset(args.uri, preview_env())
        if not args.json:
            console.print(ds.header())
        records = iter_preview(ds)
        with contextlib.closing(records):
            for loc in itertools.islice(records, args.records):
                shown += 1
                if args.json:
                    sys.stdout.write(dumps(loc.record, default=str) + "\n")
                    sys.stdout.flush()
                else:
                    console.print(render_record(shown, loc))
        if not args.json:
            if shown == 0:
                console.print("no records", style="yellow")
            elif ds.records is not None:
                console.print(f"{shown} of {ds.records:,} records", style="dim")
            elif shown < args.records:
                console.print(f"all {shown} records", style="dim")
    except InspectError as e:
        print(f"datafoundry preview: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # `datafoundry preview ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


# --------------------------------------------------------------------------------------------
# datafoundry report
# --------------------------------------------------------------------------------------------


def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="compute the quality report of a dataset (a published prefix, JSONL or Parquet; local or s3://)",
        description=(
            "Compute the quality report the publish stage writes as quality.json (sizes, diversity, domain "
            "match, coverage, judge scores, process, samples, findings) for any dataset: a published prefix "
            "(its manifest's recipe gives the domain, seeds and documents) or plain JSONL/Parquet. S3 settings "
            "come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY. Exit 2 when there is "
            "nothing at URI, 1 when it cannot be read."
        ),
    )
    p.add_argument("uri", metavar="URI", help="s3://bucket/prefix, file:///path or a local path")
    p.add_argument("--domain", metavar="TEXT",
                   help="text describing the domain to match, replacing the recipe's; give a paragraph or more "
                        "(a few example records help): one short sentence shares too few words with any record")
    p.add_argument("--language", metavar="TAG", help="expected language, e.g. en (default: the recipe's)")
    p.add_argument("--json", action="store_true", help="print quality.json instead of a summary")
    p.add_argument("--out", metavar="DIR", help="also write quality.json and the plots (with matplotlib) to DIR")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from datafoundry.inspector import InspectError, QuietConsole, iter_preview, open_dataset, preview_env, render_report
    from datafoundry.report import build
    from datafoundry.report.dataset import report_for

    env = preview_env()
    try:
        ds = open_dataset(args.uri, env)
        records = iter_preview(ds)
        with contextlib.closing(records):
            report = report_for((loc.record for loc in records), manifest=ds.manifest, env=env,
                                domain=args.domain, language=args.language)
    except InspectError as e:
        print(f"datafoundry report: {e}", file=sys.stderr)
        return e.exit_code
    if args.out:
        out = Path(args.out)
        for key, _title, data, _type in build.objects(report):
            path = out / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    if args.json:
        sys.stdout.write(build.encode(report).decode("utf-8"))
    else:
        QuietConsole(file=sys.stdout).print(render_report(report, ds.uri))
    return 0


# --------------------------------------------------------------------------------------------
# datafoundry status
# --------------------------------------------------------------------------------------------


def _add_status(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "status",
        help="show a DataFoundryJob: phase, conditions, funnel, shards, output and quality",
        description=(
            "Read one DataFoundryJob from the cluster (the kubeconfig kubectl would use: --kubeconfig, "
            "$KUBECONFIG or ~/.kube/config) and show its status. Exit 2 when the job or the cluster "
            "cannot be found."
        ),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("-n", "--namespace", metavar="NS", help="default: the namespace of the kubeconfig context")
    p.add_argument("--kubeconfig", metavar="PATH", help="default: $KUBECONFIG, else ~/.kube/config")
    p.add_argument("--context", metavar="CTX", help="kubeconfig context (default: the current one)")
    p.add_argument("--json", action="store_true", help="print the status object as JSON")
    p.set_defaults(func=_cmd_status)


def _cmd_status(args: argparse.Namespace) -> int:
    import json

    from datafoundry.inspector import InspectError, QuietConsole, connect, get_job, render_status

    try:
        cluster = connect(args.kubeconfig, args.context)
        job = get_job(cluster, args.namespace or cluster.namespace, args.name)
    except InspectError as e:
        print(f"datafoundry status: {e}", file=sys.stderr)
        return e.exit_code
    try:
        if args.json:
            print(json.dumps(job.get("status") or {}, indent=2, ensure_ascii=False), flush=True)
        else:
            QuietConsole(file=sys.stdout).print(render_status(job))
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


# --------------------------------------------------------------------------------------------
# datafoundry rbac
# --------------------------------------------------------------------------------------------


def _add_rbac(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("rbac", help="print the operator's least-privilege ClusterRole (YAML)")
    p.add_argument("--peering", action="store_true", help="include kopf peering permissions")
    p.set_defaults(func=_cmd_rbac)


def _cmd_rbac(args: argparse.Namespace) -> int:
    import yaml

    from datafoundry.controller.rbac import cluster_role

    sys.stdout.write(yaml.safe_dump(cluster_role(peering=args.peering), sort_keys=False))
    return 0


# --------------------------------------------------------------------------------------------
# datafoundry check-operator
# --------------------------------------------------------------------------------------------


def _add_check_operator(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check-operator",
        help="check a running operator's /healthz and /metrics (what the chart's `helm test` Pod runs)",
        description="Exit 0 when /healthz answers 200 and /metrics serves the operator's datafoundry_* "
                    "metrics, else 1 with one line per problem. Retries until --wait runs out.",
    )
    p.add_argument("--health-url", required=True, help="e.g. http://datafoundry-metrics.NS.svc:8081/healthz")
    p.add_argument("--metrics-url", required=True, help="e.g. http://datafoundry-metrics.NS.svc:8080/metrics")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="keep trying this long while the check fails (default 0: once)")
    p.set_defaults(func=_cmd_check_operator)


def _cmd_check_operator(args: argparse.Namespace) -> int:
    import time

    from datafoundry.controller.healthcheck import check

    deadline = time.monotonic() + args.wait
    while True:
        found = check(args.health_url, args.metrics_url, timeout=args.timeout)
        if not found:
            print(f"operator healthy: {args.health_url} and {args.metrics_url} answer")
            return 0
        if time.monotonic() >= deadline:
            for problem in found:
                print(f"datafoundry check-operator: {problem}", file=sys.stderr)
            return 1
        time.sleep(1.0)


_COMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_crd,
    _add_validate,
    _add_operator,
    _add_worker,
    _add_run,
    _add_preview,
    _add_report,
    _add_status,
    _add_rbac,
    _add_check_operator,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datafoundry", description="Data Foundry: LLM training data on Kubernetes.")
    parser.add_argument("--version", action="version", version=f"datafoundry {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    func: Command = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
