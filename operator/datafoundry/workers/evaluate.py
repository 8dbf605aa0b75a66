"""`datafoundry worker evaluate --round R`: the forgetting guard (spec.evaluation.forgetting).

After the last dedup pass and before publish: the records publish will write (the same seeded
selection, `datafoundry.workers.selection`) are split (`datafoundry.evaluation.split`) into held-out
domain and general records and two training samples. A LoRA adapter is trained on the reference model
for `steps` steps on the mix, and a fresh one on as many domain records only; the loss on both held-out
sets is measured before and after each (`datafoundry.evaluation.lora`).

Resumable: the losses before, and each run's result, are written to staging as they finish
(`eval/r<RR>/s00000/<piece>.json`); a retried pod computes only what is missing. The whole result goes
to `forgetting.json` there, for publish (quality.json, the manifest, the card), and its headline to the
final Progress, for the status and the gate.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec, Forgetting
from datafoundry.api.stages import Stage
from datafoundry.evaluation import result as results
from datafoundry.evaluation.examples import Example, example
from datafoundry.evaluation.lora import LoraSettings
from datafoundry.evaluation.split import NotEnoughRecords, split
from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import BadInput, Progress
from datafoundry.pipeline.output_env import output_env
from datafoundry.publish.select import Candidate, smallest, sort_key
from datafoundry.records.objects import resolve
from datafoundry.records.read import LineErrors, iter_records
from datafoundry.workers import selection, staging
from datafoundry.workers.common import ProgressReporter, WorkerContext, add_common_arguments, run_worker

log = logging.getLogger("datafoundry.worker.evaluate")

BEFORE = "before"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return run_worker(Stage.EVALUATE, args, evaluate)


def _piece_key(uid: str, round_: int, name: str) -> str:
    return layout.join(layout.shard_prefix(uid, Stage.EVALUATE, round_, 0), f"{name}.json")


def reference_model(spec: DataFoundryJobSpec) -> tuple[str, str | None]:
    """(model, revision) the guard fine-tunes: evaluation.forgetting.model, else the generator's."""
    forgetting, gen = spec.forgetting(), spec.generator
    assert forgetting is not None and gen is not None  # the spec's rules
    if forgetting.model is not None:
        return forgetting.model, None
    return gen.model, gen.model_revision


def lora_settings(spec: DataFoundryJobSpec) -> LoraSettings:
    """evaluation.forgetting's training settings, seeded with the job's seed."""
    settings = spec.forgetting()
    assert settings is not None
    return LoraSettings(steps=settings.steps, batch_size=settings.batch_size, learning_rate=settings.learning_rate,
                        max_tokens=settings.max_tokens, rank=settings.lora.rank, alpha=settings.lora.alpha,
                        seed=spec.seed)


def _general_records(settings: Forgetting, env: dict[str, str], seed: int) -> list[dict[str, Any]]:
    """`heldOutRecords` records of generalUri, sampled by seeded key."""
    assert settings.general_uri is not None
    objects = resolve(settings.general_uri, env)
    if not objects:
        raise BadInput(f"spec.evaluation.forgetting.generalUri {settings.general_uri}: not found "
                       "(no object or prefix with data)")
    errors = LineErrors()

    def candidates() -> Iterator[Candidate]:
        for obj in objects:
            for line, record in iter_records(obj, "auto", errors):
                yield sort_key(seed, "e", obj.uri, line), record

    chosen = smallest(candidates(), settings.held_out_records)
    errors.check(f"evaluation.forgetting.generalUri {settings.general_uri}")
    return [record for _, record in chosen]


def evaluate(ctx: WorkerContext, load: Callable[[str, str | None], tuple[Any, Any]] | None = None) -> Progress:
    """`load(model, revision) -> (model, tokenizer)`: the reference model (default: resolved the way the
    generator resolves its model, then `lora.load`)."""
    from datafoundry.evaluation import lora

    spec, store = ctx.spec, ctx.store
    settings = spec.forgetting()
    if settings is None:
        raise BadInput("spec.evaluation.forgetting is not set: there is nothing to evaluate")
    reporter = ProgressReporter(ctx)
    p = reporter.progress
    env = output_env(spec)
    found = staging.filter_blocks(store, ctx.uid, spec, ctx.round)
    drops = staging.get_json(store, staging.drops_key(ctx.uid, ctx.round))
    dedup_done = staging.done(store, ctx.uid, Stage.DEDUP, ctx.round, 0)
    if drops is None or dedup_done is None:
        raise RuntimeError(f"dedup of round {ctx.round} is not done yet")
    chosen = selection.select(ctx, env, found, drops, dedup_done)
    general = ([ex for record in _general_records(settings, env, spec.seed) if (ex := example(record)) is not None]
               if settings.general_uri is not None else None)
    domain = [ex for _, record in chosen.generated if (ex := example(record)) is not None]
    replay = [ex for _, record in chosen.replay if (ex := example(record)) is not None]
    try:
        parts = split(domain, replay, general, held_out=settings.held_out_records, sample=settings.sample_records)
    except NotEnoughRecords as e:
        raise BadInput(str(e)) from e

    model_ref, revision = reference_model(spec)
    model, tokenizer = (load or _load)(model_ref, revision)
    train_settings = lora_settings(spec)

    def encoded(examples: list[Example], what: str) -> list[Any]:
        out = lora.encode(tokenizer, examples, settings.max_tokens)
        if not out:
            raise BadInput(f"evaluation.forgetting.maxTokens={settings.max_tokens}: no answer token of the "
                           f"{len(examples)} {what} is left after the prompt; raise maxTokens")
        return out

    domain_held = encoded(parts.domain_held_out, "held-out domain records")
    general_held = encoded(parts.general_held_out, "held-out general records")
    runs = {results.MIX: parts.mix, **({results.DOMAIN_ONLY: parts.domain_only} if parts.mix_replay else {})}
    p.chunks_total = settings.steps * len(runs)

    def losses(m: Any) -> dict[str, float]:
        return {"domain": lora.held_out_loss(m, domain_held, settings.batch_size).nll,
                "general": lora.held_out_loss(m, general_held, settings.batch_size).nll}

    before = staging.get_json(store, _piece_key(ctx.uid, ctx.round, BEFORE))
    if before is None:
        before = losses(model)
        staging.put_json(store, _piece_key(ctx.uid, ctx.round, BEFORE), before)
    done_runs: dict[str, results.Run] = {}
    for index, (name, records) in enumerate(runs.items()):
        piece = staging.get_json(store, _piece_key(ctx.uid, ctx.round, name))
        if piece is None:
            def on_step(step: int, loss: float, offset: int = index * settings.steps, run: str = name) -> None:
                p.chunks_done = offset + step
                p.message = f"{run}: step {step} of {settings.steps}, training loss {loss:.3f}"
                reporter.update()

            peft_model, stats = lora.train(model, encoded(records, f"records of the {name} run"), train_settings,
                                           on_step=on_step)
            after = losses(peft_model)
            model = lora.remove_adapter(peft_model)
            piece = asdict(results.Run(
                records=len(records), replay_records=parts.mix_replay if name == results.MIX else 0,
                steps=stats.steps, examples=stats.examples, tokens=stats.tokens, seconds=stats.seconds,
                train_loss_first=stats.first_loss, train_loss_last=stats.last_loss,
                domain_loss=after["domain"], general_loss=after["general"]))
            staging.put_json(store, _piece_key(ctx.uid, ctx.round, name), piece)
        p.chunks_done = (index + 1) * settings.steps
        done_runs[name] = results.Run(**piece)

    source = ("generalUri" if general is not None
              else (chosen.replay_info or {}).get("source", "replay"))
    held_out = {"domain": len(domain_held), "general": len(general_held), "generalSource": source,
                **({"generalUri": settings.general_uri} if settings.general_uri else {})}
    report = results.report(settings, model=model_ref, device=lora.device(), seed=spec.seed, held_out=held_out,
                            domain_before=before["domain"], general_before=before["general"], runs=done_runs)
    staging.put_json(store, staging.forgetting_key(ctx.uid, ctx.round), report)
    _, _, sentence = results.verdict(report)
    log.info("%s", sentence)
    p.forgetting = results.status(report)
    p.message = sentence
    return reporter.finish()


def _load(model: str, revision: str | None) -> tuple[Any, Any]:
    from datafoundry.engines.model import resolve_model
    from datafoundry.evaluation import lora

    return lora.load(resolve_model(model), revision=revision)
