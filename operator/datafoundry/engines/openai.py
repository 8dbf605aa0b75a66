"""Any OpenAI-compatible server (vLLM, NIM, SGLang, OpenAI): async chat completions with bounded
concurrency, and retries with jittered exponential backoff on 429, 5xx, timeouts and lost
connections. The API key comes from $OPENAI_API_KEY (a Secret reference in the pod spec).

A request that leaves a user turn open (Magpie) cannot go through the chat API, which always
opens the assistant's turn: it is sent to /v1/completions with the pre-query template (the chat
template's text up to where the user's message starts, given by the strategy's options) as the
raw prompt; the server stops it at the model's end-of-sequence token.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Sequence
from typing import Any

from datafoundry.engines.base import Completion, Request, SamplingConfig
from datafoundry.engines.metrics import GeneratorMetrics, Stopwatch
from datafoundry.engines.retry import Backoff, parse_retry_after, retryable_status

log = logging.getLogger("datafoundry.engines.openai")

ENV_API_KEY = "OPENAI_API_KEY"
#: Answers about one request that a retry will not change: that request fails, the batch goes on.
REQUEST_ERRORS = frozenset({400, 413, 422})
PRE_QUERY_TEMPLATE_FIELDS = ("generator.strategies[].options.preQueryTemplate",
                             "mix.replay.generate.preQueryTemplate")


class MissingPreQueryTemplate(ValueError):
    def __init__(self) -> None:
        super().__init__(f"the magpie strategy and generated replay with engine type openai need "
                         f"{' and '.join(PRE_QUERY_TEMPLATE_FIELDS)}: the model's chat template up to where the "
                         "user's message starts (e.g. '<|im_start|>user\\n'); an OpenAI-compatible server cannot "
                         "render it")


class OpenAIEngine:
    def __init__(
        self,
        base_url: str,
        model: str,
        sampling: SamplingConfig,
        *,
        max_concurrency: int = 32,
        timeout: float = 300.0,
        max_retries: int = 5,
        backoff: Backoff | None = None,
        metrics: GeneratorMetrics | None = None,
        api_key: str | None = None,
        pre_query_template: str | None = None,
    ) -> None:
        """`pre_query_template`: the raw prompt of requests that leave a user turn open."""
        from openai import AsyncOpenAI

        self.sampling = sampling
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self.metrics = metrics
        self.retries = 0
        self._model = model
        self.pre_query_template = pre_query_template
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._loop = asyncio.new_event_loop()
        self.client = AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or os.environ.get(ENV_API_KEY) or "EMPTY",
            timeout=timeout,
            max_retries=0,  # we retry ourselves, with jitter and metrics
        )

    @property
    def model_name(self) -> str:
        return self._model

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        if any(r.open_user_turn and self._pre_query_template(r) is None for r in requests):
            raise MissingPreQueryTemplate()
        watch = Stopwatch()
        out = self._loop.run_until_complete(self._all(requests))
        if self.metrics:
            self.metrics.observe_batch(
                len(requests), sum(c.prompt_tokens for c in out), sum(c.completion_tokens for c in out), watch.seconds
            )
        return out

    async def _all(self, requests: Sequence[Request]) -> list[Completion]:
        sem = asyncio.Semaphore(self.max_concurrency)
        return list(await asyncio.gather(*(self._bounded(sem, r) for r in requests)))

    async def _bounded(self, sem: asyncio.Semaphore, request: Request) -> Completion:
        async with sem:
            return await self._with_retries(request)

    def _sampling(self, request: Request) -> dict[str, Any]:
        """What a chat request and a raw completion have in common: model, sampling, limits, stops."""
        kwargs: dict[str, Any] = {
            "model": self._model,
            "temperature": self.sampling.temperature if request.temperature is None else request.temperature,
            "top_p": self.sampling.top_p,
            "max_tokens": request.max_tokens or self.sampling.max_tokens,
            "seed": request.seed,
            "n": 1,
        }
        if request.stop:
            kwargs["stop"] = list(request.stop)
        return kwargs

    def _pre_query_template(self, request: Request) -> str | None:
        return request.pre_query_template or self.pre_query_template

    def _open_user_turn_kwargs(self, request: Request) -> dict[str, Any]:
        """/v1/completions arguments of a request that leaves a user turn open: the pre-query template is the
        whole prompt (a system prompt, if any, is written into the template)."""
        template = self._pre_query_template(request)
        if template is None:
            raise MissingPreQueryTemplate()
        kwargs = {**self._sampling(request), "prompt": template}
        if self.sampling.repetition_penalty != 1.0:
            kwargs["extra_body"] = {"repetition_penalty": self.sampling.repetition_penalty}
        return kwargs

    def _kwargs(self, request: Request) -> dict[str, Any]:
        kwargs: dict[str, Any] = {**self._sampling(request), "messages": list(request.messages)}
        extra: dict[str, Any] = {}
        if self.sampling.repetition_penalty != 1.0:
            extra["repetition_penalty"] = self.sampling.repetition_penalty
        if request.continues:  # vLLM's (and SGLang's) extension: continue the assistant's message
            extra.update(continue_final_message=True, add_generation_prompt=False)
        if extra:
            kwargs["extra_body"] = extra
        if request.schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "record", "schema": request.schema, "strict": True},
            }
        return kwargs

    async def _with_retries(self, request: Request) -> Completion:
        import openai

        attempt = 0
        while True:
            retry_after: float | None = None
            if self.metrics:
                self.metrics.requests_in_flight.inc()
            try:
                if request.open_user_turn:
                    return _completion(await self.client.completions.create(**self._open_user_turn_kwargs(request)))
                return _completion(await self.client.chat.completions.create(**self._kwargs(request)))
            except openai.APIStatusError as e:
                if e.status_code in REQUEST_ERRORS:
                    log.warning("request refused by the server (%d): %s", e.status_code, e.message)
                    return Completion(text="", prompt_tokens=0, completion_tokens=0,
                                      finish_reason=f"error_{e.status_code}")
                if not retryable_status(e.status_code) or attempt >= self.max_retries:
                    raise
                retry_after = parse_retry_after(e.response.headers.get("retry-after"))
                reason = str(e.status_code)
            except openai.APIConnectionError as e:  # includes APITimeoutError
                if attempt >= self.max_retries:
                    raise
                reason = "timeout" if isinstance(e, openai.APITimeoutError) else "connection"
            finally:
                if self.metrics:
                    self.metrics.requests_in_flight.dec()
            delay = self.backoff.delay(attempt, self._rng, retry_after)
            self.retries += 1
            if self.metrics:
                self.metrics.retries.labels(reason=reason).inc()
            log.info("retrying request after %s (attempt %d, %.2fs)", reason, attempt + 1, delay)
            await asyncio.sleep(delay)
            attempt += 1

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.run_until_complete(self.client.close())
        self._loop.close()


def _completion(resp: Any) -> Completion:
    """A chat completion's or a raw completion's first choice."""
    choice = resp.choices[0] if resp.choices else None
    usage = resp.usage
    message = getattr(choice, "message", None)
    text = (message.content if message is not None else getattr(choice, "text", None)) or ""
    return Completion(
        text=text,
        prompt_tokens=int(usage.prompt_tokens) if usage else 0,
        completion_tokens=int(usage.completion_tokens) if usage else 0,
        finish_reason=choice.finish_reason if choice else None,
    )
