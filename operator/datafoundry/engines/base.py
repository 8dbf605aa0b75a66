"""What an inference engine is to the generator: chat requests in, completions out, in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling shared by every request of a run (from `generator.sampling`)."""

    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 1024
    repetition_penalty: float = 1.0


@dataclass(frozen=True)
class Request:
    """One chat completion: messages, its own sampling seed, and optionally a JSON Schema the
    output must follow (structured output)."""

    messages: tuple[Message, ...]
    seed: int
    schema: dict[str, Any] | None = None
    max_tokens: int | None = None  # overrides SamplingConfig.max_tokens
    temperature: float | None = None  # overrides SamplingConfig.temperature (a judge scores greedily)
    #: Strings that end the completion (not included in it).
    stop: tuple[str, ...] = ()
    #: Render `messages`, then open a user turn: the model writes the user's message (Magpie), which
    #: ends at the end of that turn (the model's end-of-sequence or the template's end-of-turn marker).
    open_user_turn: bool = False
    #: With `open_user_turn` on an OpenAI-compatible server: the raw prompt that opens the user turn (the
    #: engine's own when None); the in-process engine renders the model's chat template instead.
    pre_query_template: str | None = None

    @property
    def continues(self) -> bool:
        """The last message is the assistant's: the model continues it instead of starting a new turn."""
        return not self.open_user_turn and bool(self.messages) and self.messages[-1]["role"] == "assistant"


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Engine(Protocol):
    """Generates one completion per request, returned in request order.

    Errors that a retry of the whole shard can fix are raised; `generate` never returns fewer
    completions than requests.
    """

    @property
    def model_name(self) -> str: ...

    def generate(self, requests: Sequence[Request]) -> list[Completion]: ...

    def close(self) -> None: ...
