"""Magpie (Xu et al. 2024): an aligned model, given its chat template up to where a user's turn
starts, writes the user's query itself; a second call answers it. No seeds, no instruction to
write questions: the query is what the model has learned users ask, steered only by the system
turn before it (option ``systemPrompt``; default: the task's domain and language).

The first call leaves the user turn open (`Call.open_user_turn`): the in-process vLLM engine cuts
the model's own chat template there; an OpenAI-compatible server gets option ``preQueryTemplate``
as the raw prompt instead (then any system prompt is written into that template). A query is
dropped, by name, when it is

- ``magpie_empty``: nothing but whitespace, labels or quotes;
- ``magpie_too_short``: fewer than ``MIN_QUERY_WORDS`` words;
- ``magpie_not_a_request``: the model wrote the assistant's side instead of a user's request. In
  English: it opens like an answer or chat filler ("Sure", "Here is", "Yes", "Thank you"), offers
  help ("How can I help you?", "What can I do for you?"), or it has no question mark and does not open with a question
  word, an imperative verb or a request ("Please", "Can you", "I need"). In other languages the
  question-mark-or-opener test is not made (a word list cannot tell their imperatives); the
  English answer openers and offers of help still drop a query.

The answer call and its rules (``empty_answer``, ``refusal``) are the default ask-then-answer flow's.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from datafoundry.api.spec import EngineType
from datafoundry.engines.base import Message
from datafoundry.strategies.base import (
    ASK_MAX_TOKENS,
    Call,
    Flow,
    Outcome,
    Slot,
    Strategy,
    StrategyContext,
    answer_system_message,
    answered_record,
    finish_of,
    parse_question,
)
from datafoundry.strategies.shapes import Shape, clean

MIN_QUERY_WORDS = 3
#: Drop reasons of the query call (see the module docstring).
EMPTY, TOO_SHORT, NOT_A_REQUEST = "magpie_empty", "magpie_too_short", "magpie_not_a_request"

_ANSWER_OPENER = re.compile(
    r"^\W*(?:sure|certainly|of course|absolutely|yes|okay|ok|great|thanks|thank you|you'?re welcome|"
    r"here(?:'s| is| are)|i'?d be (?:happy|glad)|i would be (?:happy|glad)|i'?m (?:happy|glad)|as an ai|"
    r"in (?:summary|conclusion))\b",
    re.IGNORECASE,
)
#: The assistant's greeting ("Hello! How can I help you today?", "What can I do for you today? I'm here to
#: help with any project"), wherever it stands.
_ASSISTANT_FILLER = re.compile(r"\bhow (?:can|may) i (?:help|assist)\b|\bwhat can i do for you\b"
                               r"|\bi(?:'m| am) here to (?:help|assist) (?:you\b|with any)", re.IGNORECASE)
_QUESTION_MARK = re.compile(r"[?？؟]")
_REQUEST_OPENER = re.compile(
    r"^\W*(?:how|what|why|when|where|which|who|whom|whose|is|are|was|were|do|does|did|can|could|would|should|"
    r"will|may|shall|please|i need|i want|i'?d like|i would like|i'?m (?:trying|looking|working)|i am (?:trying|"
    r"looking|working)|help|write|explain|describe|list|give|tell|show|create|generate|summari[sz]e|compare|"
    r"translate|find|calculate|compute|suggest|provide|recommend|design|implement|convert|fix|debug|rewrite|"
    r"edit|make|draft|outline|plan|analy[sz]e|evaluate|identify|define|classify|solve|prove|name|propose|"
    r"build|set up|configure|update|check|review|improve|optimi[sz]e|teach|walk me|guide me|let me know)\b",
    re.IGNORECASE,
)


def query_failure(query: str, english: bool) -> str | None:
    """Why a model-written user query is not one (a drop name), or None."""
    if not query:
        return EMPTY
    if len(query.split()) < MIN_QUERY_WORDS:
        return TOO_SHORT
    if _ANSWER_OPENER.match(query) or _ASSISTANT_FILLER.search(query):
        return NOT_A_REQUEST
    if english and not _QUESTION_MARK.search(query) and not _REQUEST_OPENER.match(query):
        return NOT_A_REQUEST
    return None


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def default_system_prompt(domain: str, language: str) -> str:
    """Magpie steers the queries' domain with the system turn alone."""
    return (f"You are an AI assistant that helps users with {domain}. "
            f"Users write to you in the language with BCP 47 tag '{language}'.")


class Magpie(Strategy):
    name = "magpie"

    def __init__(self, ctx: StrategyContext, shape: Shape) -> None:
        super().__init__(ctx, shape)
        if shape.ask is None or shape.answer_field is None:
            raise ValueError(f"the magpie strategy writes a query and its answer: task.type must be instruction or "
                             f"qa without task.outputSchema (the record shape here is {shape.name!r})")
        option = self.options.get("systemPrompt")
        self.system_prompt = option if isinstance(option, str) and option.strip() else self.default_system_prompt()
        template = self.options.get("preQueryTemplate")
        self.pre_query_template = template if isinstance(template, str) and template else None
        # Provenance: what opened the user turn, by a short hash (an OpenAI server never sees the system prompt:
        # the pre-query template holds the system turn).
        if ctx.engine == EngineType.OPENAI:
            self.source: dict[str, Any] = {"template": "preQueryTemplate",
                                           "preQueryTemplate": short_hash(str(self.options.get("preQueryTemplate")))}
        else:
            self.source = {"template": "vllm", "systemPrompt": short_hash(self.system_prompt)}

    def default_system_prompt(self) -> str:
        return default_system_prompt(self.ctx.task.domain, self.ctx.task.language)

    def answer_system(self) -> Message:
        """The system turn of the answer call."""
        return answer_system_message(self.ctx.task)

    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        raise NotImplementedError("magpie has no user message: the model writes it")

    def flow(self, slot: Slot) -> Flow:
        ask, answer_field = self.shape.ask, self.shape.answer_field
        assert ask is not None and answer_field is not None  # checked in __init__
        asked = yield Call(({"role": "system", "content": self.system_prompt},), open_user_turn=True,
                           pre_query_template=self.pre_query_template,
                           max_tokens=min(ASK_MAX_TOKENS, self.ctx.max_tokens))
        query = parse_question(clean(asked.text))
        failure = query_failure(query, self.ctx.task.language.lower().startswith("en"))
        if failure is not None:
            return Outcome(None, failure, asked.finish_reason, self.source)
        fields, failure = ask.to_record({next(iter(ask.schema["properties"])): query})
        if fields is None:
            return Outcome(None, failure or "invalid", asked.finish_reason, self.source)
        answered = yield Call((self.answer_system(), {"role": "user", "content": query}))
        return answered_record(fields, answer_field, answered, finish_of(asked, answered), self.source)
