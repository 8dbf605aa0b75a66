"""Any OpenAI-compatible server (vLLM, NIM, SGLang, OpenAI): async chat completions with bounded
concurrency, and retries with jittered exponential backoff on 429, 5xx, timeouts and lost
connections. The API key comes from $OPENAI_API_KEY (a Secret reference in the pod spec).
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
    ) -> None:
        from openai import AsyncOpenAI

        self.sampling = sampling
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self.metrics = metrics
        self.retries = 0
        self._model = model
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

    def _kwargs(self, request: Request) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self._model,
            "messages": list(request.messages),
            "temperature": self.sampling.temperature if request.temperature is None else request.temperature,
            "top_p": self.sampling.top_p,
            "max_tokens": request.max_tokens or self.sampling.max_tokens,
            "seed": request.seed,
            "n": 1,
        }
        if request.stop:
            kwargs["stop"] = list(request.stop)
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
                resp = await self.client.chat.completions.create(**self._kwargs(request))
                return _completion(resp)
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
    choice = resp.choices[0] if resp.choices else None
    usage = resp.usage
    return Completion(
        text=(choice.message.content or "") if choice else "",
        prompt_tokens=int(usage.prompt_tokens) if usage else 0,
        completion_tokens=int(usage.completion_tokens) if usage else 0,
        finish_reason=choice.finish_reason if choice else None,
    )
