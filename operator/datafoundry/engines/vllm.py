"""In-process vLLM (`vllm.LLM`): one large offline batch per call, the fastest path on a GPU.

Prompts are rendered with the model's chat template and handed over as token ids; structured
output goes through vLLM's guided decoding (xgrammar) with whitespace outside strings disabled,
so a model cannot pad JSON until it runs out of tokens. Each request carries its own seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from datafoundry.engines.base import Completion, Message, Request, SamplingConfig
from datafoundry.engines.cpu_dtype import host_cpu_flags, resolve_cpu_dtype
from datafoundry.engines.metrics import GeneratorMetrics, Stopwatch

#: Engine-wide structured output settings (whitespace control is an engine option in vLLM).
STRUCTURED_OUTPUTS_CONFIG: dict[str, Any] = {"backend": "xgrammar", "disable_any_whitespace": True}


def fallback_chat_prompt(messages: Sequence[Message], next_role: str = "assistant") -> str:
    """For base models without a chat template: the messages, then `next_role`'s turn opened."""
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join([*lines, f"{next_role.capitalize()}:"])


#: Stands in for the user's message when a chat template is rendered up to where that message starts.
USER_SENTINEL = "DATAFOUNDRY-USER-MESSAGE-7f3a9c"


def user_turn_prompt(tokenizer: Any, messages: Sequence[Message]) -> tuple[str, str]:
    """(the prompt text: `messages`, then a user turn opened for the model to write, the end-of-turn
    marker that closes that turn, "" if the template has none).

    The template is rendered with a sentinel user message and cut at it; HF's
    `continue_final_message` cannot be used here: it mishandles an empty final message."""
    if not getattr(tokenizer, "chat_template", None):
        return fallback_chat_prompt(messages, "user"), "\n\nAssistant:"
    text = tokenizer.apply_chat_template([*messages, {"role": "user", "content": USER_SENTINEL}], tokenize=False,
                                         add_generation_prompt=False)
    head, found, tail = text.partition(USER_SENTINEL)
    if not found:
        raise ValueError("the model's chat template does not render a user message as given, so a user turn "
                         "cannot be left open (the magpie strategy)")
    return head, tail.strip()


@dataclass(frozen=True)
class VLLMOptions:
    """How `vllm.LLM` loads and runs the model (the generator's spec fields)."""

    revision: str | None = None
    tensor_parallel_size: int = 1
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    dtype: str = "auto"
    seed: int = 0
    enforce_eager: bool | None = None


def resolve_enforce_eager(requested: bool | None, *, on_cpu: bool) -> bool:
    """`generator.enforceEager`: as set; unset, eager on a CPU (compiling costs about a minute at every
    start there for some 15% more tokens/s) and compiled with CUDA graphs on a GPU."""
    return on_cpu if requested is None else requested


def llm_kwargs(model: str, options: VLLMOptions = VLLMOptions()) -> dict[str, Any]:
    """`vllm.LLM` arguments for the generator (the benchmark builds its bare `LLM` from them too)."""
    from vllm.platforms import current_platform

    kwargs: dict[str, Any] = {
        "model": model,
        "tensor_parallel_size": options.tensor_parallel_size,
        "gpu_memory_utilization": options.gpu_memory_utilization,
        "dtype": resolve_cpu_dtype(options.dtype, host_cpu_flags()) if current_platform.is_cpu() else options.dtype,
        "seed": options.seed,
        "enforce_eager": resolve_enforce_eager(options.enforce_eager, on_cpu=current_platform.is_cpu()),
        "structured_outputs_config": STRUCTURED_OUTPUTS_CONFIG,
    }
    if options.max_model_len is not None:
        kwargs["max_model_len"] = options.max_model_len
    if options.revision is not None:
        kwargs["revision"] = options.revision
    if current_platform.is_cpu():
        # vLLM on CPU: a seeded request whose prefill is split across steps crashes the worker
        # ("CPU Generator does not use offset"), so prompts are prefilled whole.
        kwargs["enable_chunked_prefill"] = False
    return kwargs


class VLLMEngine:
    def __init__(
        self,
        model: str,
        sampling: SamplingConfig,
        *,
        served_name: str | None = None,
        options: VLLMOptions = VLLMOptions(),
        metrics: GeneratorMetrics | None = None,
        llm: Any = None,
    ) -> None:
        """`llm`: an existing `vllm.LLM` to wrap (benchmarks); otherwise one is created."""
        self.sampling = sampling
        self.metrics = metrics
        self._name = served_name or model
        if llm is None:
            from vllm import LLM

            llm = LLM(**llm_kwargs(model, options))
        self.llm = llm
        self.tokenizer = llm.get_tokenizer()
        self.max_model_len = int(llm.llm_engine.model_config.max_model_len)

    @property
    def model_name(self) -> str:
        return self._name

    def render(self, messages: Sequence[Message], open_user_turn: bool = False) -> tuple[list[int], tuple[str, ...]]:
        """(token ids of the chat prompt, stop strings its turn needs). The prompt ends where the
        assistant's answer starts, or, when the last message is the assistant's, where it stops, for the
        model to continue it; with `open_user_turn`, where the user's next message starts (then the
        template's end-of-turn marker is a stop string)."""
        stop: tuple[str, ...] = ()
        continues = not open_user_turn and bool(messages) and messages[-1]["role"] == "assistant"
        if open_user_turn:
            text, end = user_turn_prompt(self.tokenizer, messages)
            stop = (end,) if end else ()
        elif getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(list(messages), tokenize=False,
                                                      add_generation_prompt=not continues,
                                                      continue_final_message=continues)
        else:
            text = fallback_chat_prompt(messages[:-1] if continues else messages)
            if continues:
                text += f" {messages[-1]['content']}"
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=False)
        return ids, stop

    def sampling_params(self, request: Request, prompt_len: int, stop: tuple[str, ...] = ()) -> Any:
        """vLLM's sampling parameters of one request; `stop`: stop strings besides the request's own."""
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        max_tokens = request.max_tokens or self.sampling.max_tokens
        max_tokens = max(1, min(max_tokens, self.max_model_len - prompt_len))
        structured = StructuredOutputsParams(json=request.schema) if request.schema is not None else None
        return SamplingParams(
            n=1,
            temperature=self.sampling.temperature if request.temperature is None else request.temperature,
            top_p=self.sampling.top_p,
            max_tokens=max_tokens,
            seed=request.seed,
            structured_outputs=structured,
            stop=list(dict.fromkeys((*request.stop, *stop))) or None,
            repetition_penalty=self.sampling.repetition_penalty,
        )

    def prepare(self, requests: Sequence[Request]) -> tuple[list[Any], list[Any], list[int]]:
        """(prompts, sampling params, indices into `requests`) of the requests that fit the context."""
        from vllm.inputs import TokensPrompt

        prompts, params, keep = [], [], []
        for i, r in enumerate(requests):
            ids, stop = self.render(r.messages, r.open_user_turn)
            if len(ids) >= self.max_model_len:
                continue
            prompts.append(TokensPrompt(prompt_token_ids=ids))
            params.append(self.sampling_params(r, len(ids), stop))
            keep.append(i)
        return prompts, params, keep

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        prompts, params, keep = self.prepare(requests)
        out = [Completion(text="", prompt_tokens=0, completion_tokens=0, finish_reason="prompt_too_long")
               for _ in requests]
        if self.metrics:
            self.metrics.requests_in_flight.inc(len(prompts))
        watch = Stopwatch()
        try:
            results = self.llm.generate(prompts, params, use_tqdm=False) if prompts else []
        finally:
            if self.metrics:
                self.metrics.requests_in_flight.dec(len(prompts))
        prompt_tokens = completion_tokens = 0
        for i, res in zip(keep, results, strict=True):
            c = res.outputs[0]
            done = Completion(
                text=c.text,
                prompt_tokens=len(res.prompt_token_ids or ()),
                completion_tokens=len(c.token_ids),
                finish_reason=c.finish_reason,
            )
            prompt_tokens += done.prompt_tokens
            completion_tokens += done.completion_tokens
            out[i] = done
        if self.metrics:
            self.metrics.observe_batch(len(requests), prompt_tokens, completion_tokens, watch.seconds)
        return out

    def close(self) -> None:
        self.llm = None
