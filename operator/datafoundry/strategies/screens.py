"""Screens a generated record must pass before it is written: what only the generator can judge.

The filter pods see records; the generator also sees how each one came about: whether the engine
stopped because it ran out of tokens, which string hit its length bound, which seed examples were
in the prompt. Each screen names its rule (the name is counted per strategy in the funnel):

- ``truncated``: the engine stopped at ``maxTokens`` (``finish_reason=length``), or a text field
  filled its schema bound (``maxChars``): guided decoding then closes the string wherever it is.
- ``unfinished``: an answer whose last line is prose and stops without closing punctuation
  ("While you can set up a new container to have a").
- ``non_answer``: an answer that announces what it does not give: ends with a colon, or is a short
  promise of a command, code, steps or example that never comes ("You can do this by running the
  following command.").
- ``copies_seed``: the prompt field's ROUGE-L F1 with a seed's prompt field is 0.7 or more (the
  Self-Instruct novelty threshold), i.e. the model rephrased an example instead of writing a new one.
- ``answer_in_prompt``: 70% or more of the answer's words appear, in order, in the prompt field
  (the instruction gives its own answer away, or the answer only repeats the question).

All are pure functions of the record, its prompt and the seeds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Fields that hold what the user asks, in the order a record's "prompt field" is looked for.
PROMPT_FIELDS = ("instruction", "question", "prompt")
#: Fields that hold the answer a model will learn to give.
ANSWER_FIELDS = ("response", "answer", "chosen", "output", "completion")

#: Evol-Instruct's elimination of an evolution (`datafoundry.strategies.evol_instruct`): a slot whose every
#: generation was eliminated fails with the last reason.
EVOL_ELIMINATIONS = frozenset({"evol_no_change", "evol_copies_prompt", "evol_refusal", "evol_empty"})
#: preferencePairs' ranking (`datafoundry.strategies.preference_pairs`): pairs the judge could not rank.
PAIR_DROPS = frozenset({"pair_unscored", "pair_low_margin", "pair_identical"})
#: A Magpie query that is no request (`datafoundry.strategies.magpie`).
MAGPIE_DROPS = frozenset({"magpie_not_a_request", "magpie_too_short"})
#: Drop reasons of the screens below, of a strategy's own eliminations, and of parsing
#: (`datafoundry.strategies.shapes`), by name.
SCREEN_NAMES = frozenset({"unfinished", "non_answer", "copies_seed", "answer_in_prompt", "refusal",
                          *EVOL_ELIMINATIONS, "answer_only_punctuation", *PAIR_DROPS, *MAGPIE_DROPS})
PARSE_FAILURES = frozenset({"empty", "magpie_empty", "invalid_json", "not_object", "missing_field", "empty_field",
                            "schema", "unknown_label", "empty_answer", "invalid"})

NOVELTY_THRESHOLD = 0.7  # Self-Instruct (Wang et al. 2023): ROUGE-L against the pool below 0.7
ANSWER_IN_PROMPT_RECALL = 0.7
MIN_WORDS_FOR_OVERLAP = 4

_WORD = re.compile(r"\w+", re.UNICODE)
#: What may close a finished answer: sentence punctuation (Latin, CJK), quotes, brackets, code.
_CLOSING = set(".!?。！？…\"'”’»)]}>`*_|;")
#: Korean sentences often end in a verb ending without a period; these syllables close one.
_HANGUL_ENDINGS = set("다요죠까네음함임됨")
_LIST_OR_CODE = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|#|```|\||>|\$ )")
_PROMISE = re.compile(
    r"\b(?:the following|as follows|below|this command|these commands|these steps|this code|"
    r"for example|here is|here are|here's)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Screened:
    record: dict[str, Any] | None
    failure: str | None = None


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Longest common subsequence of two word lists (O(len(a) * len(b)), rows of len(b))."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(a: Sequence[str], b: Sequence[str]) -> float:
    """ROUGE-L F1 of two word lists."""
    if not a or not b:
        return 0.0
    lcs = lcs_length(a, b)
    if not lcs:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def first_field(record: Mapping[str, Any], names: Iterable[str]) -> str | None:
    for name in names:
        value = record.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def last_reply(record: Mapping[str, Any]) -> str | None:
    """The last assistant turn of a chat record."""
    messages = record.get("messages")
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            content = message.get("content")
            return content if isinstance(content, str) else None
    return None


def is_unfinished(answer: str) -> bool:
    text = answer.rstrip()
    if not text:
        return False
    last_line = text.rsplit("\n", 1)[-1]
    if _LIST_OR_CODE.match(last_line) or text.count("```") % 2 == 1:
        return False  # a list item, table row, heading, quote or code: no sentence to close
    last = text[-1]
    if last in _CLOSING or last in _HANGUL_ENDINGS or last.isdigit():
        return False
    return last.isalpha() or last in ",-–—(/"


def is_non_answer(answer: str) -> bool:
    text = answer.strip()
    if text.endswith(":"):
        return True
    if "```" in text or "`" in text or "\n" in text:
        return False  # something concrete follows the promise
    return len(words(text)) <= 25 and bool(_PROMISE.search(text))


class Screens:
    """The screens for one job, as `generator.screens` sets them; the seeds' prompts are tokenised once."""

    def __init__(self, seeds: Iterable[Mapping[str, Any]], *, truncated: bool = True, unfinished: bool = True,
                 non_answer: bool = True, seed_novelty: float = NOVELTY_THRESHOLD,
                 answer_in_prompt: float = ANSWER_IN_PROMPT_RECALL) -> None:
        self.truncated, self.unfinished, self.non_answer = truncated, unfinished, non_answer
        self.seed_novelty, self.answer_in_prompt = seed_novelty, answer_in_prompt
        self.seed_prompts = ([w for s in seeds if (t := first_field(s, PROMPT_FIELDS)) and (w := words(t))]
                             if seed_novelty else [])

    def check(self, record: dict[str, Any], *, finish_reason: str | None,
              max_chars: Mapping[str, int]) -> str | None:
        """The name of the first screen the record fails, or None."""
        if self.truncated and (finish_reason == "length" or any(
                isinstance(v := record.get(name), str) and len(v) >= bound for name, bound in max_chars.items())):
            return "truncated"
        answer = first_field(record, ANSWER_FIELDS) or last_reply(record)
        if answer is not None:
            if self.non_answer and is_non_answer(answer):
                return "non_answer"
            if self.unfinished and is_unfinished(answer):
                return "unfinished"
        prompt = first_field(record, PROMPT_FIELDS)
        if prompt is None:
            return None
        if self.unfinished and (is_unfinished(prompt) or prompt.rstrip().endswith(":")):
            return "unfinished"  # a question that stops, or announces what never follows
        prompt_words = words(prompt)
        if any(rouge_l(prompt_words, seed) >= self.seed_novelty for seed in self.seed_prompts):
            return "copies_seed"
        if self.answer_in_prompt and answer is not None:
            answer_words = words(answer)
            if (len(answer_words) >= MIN_WORDS_FOR_OVERLAP
                    and lcs_length(answer_words, prompt_words) / len(answer_words) >= self.answer_in_prompt):
                return "answer_in_prompt"
        return None


def string_bounds(schema: Mapping[str, Any]) -> dict[str, int]:
    """The maxLength of each top-level string property of a record schema."""
    out: dict[str, int] = {}
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, Mapping) and prop.get("type") == "string" and isinstance(prop.get("maxLength"), int):
            out[name] = prop["maxLength"]
    return out
