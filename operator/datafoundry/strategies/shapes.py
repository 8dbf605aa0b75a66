"""Record shapes: the JSON Schema a completion must follow and how it becomes a record.

The shape follows the task type (instruction, qa, classification, dialogue, preference) or,
when `task.outputSchema` is set, is that schema. Built-in shapes bound every string (maxLength)
and use no free numbers, so structured output always terminates; strings are cleaned of control
characters and lone surrogates, which guided decoding can let through.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry, (but )?i|i cannot|i can'?t|i can ?not|i'?m unable|i am unable|i won'?t|"
    r"as an ai\b|i'?m not able|i am not able)",
    re.IGNORECASE,
)


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.match(text))


def clean(value: Any) -> Any:
    """Strings without control characters (except newline and tab) and without lone surrogates."""
    if isinstance(value, str):
        return "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"))
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    return value


def parse_json(text: str) -> tuple[Any, str | None]:
    """(value, None) or (None, reason). Lenient about raw control characters inside strings."""
    text = text.strip()
    if not text:
        return None, "empty"
    try:
        return clean(json.loads(text, strict=False)), None
    except (ValueError, RecursionError):
        return None, "invalid_json"


def text_field(max_chars: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_chars}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


@dataclass(frozen=True)
class Shape:
    """A record shape. `answer_fields` are checked for refusals."""

    name: str
    schema: dict[str, Any]
    description: str
    answer_fields: tuple[str, ...] = ()
    validator: Any = field(default=None, compare=False)
    #: Written in a second call, as the model's own chat answer to the first call's question
    #: (ask, then answer): small models answer far better in free text than inside a JSON string.
    answer_field: str | None = None
    #: The shape of the first call when `answer_field` is set: every field but the answer.
    ask: Shape | None = None

    def describe(self) -> str:
        return self.description

    def to_record(self, value: Any) -> tuple[dict[str, Any] | None, str | None]:
        if not isinstance(value, dict):
            return None, "not_object"
        if self.validator is not None:
            return (value, None) if self.validator.is_valid(value) else (None, "schema")
        if self.name == "dialogue":
            return _dialogue(value)
        for key in self.schema["properties"]:
            v = value.get(key)
            if not isinstance(v, str):
                return None, "missing_field"
            if not v.strip():
                return None, "empty_field"
        if any(is_refusal(value[k]) for k in self.answer_fields):
            return None, "refusal"
        if "label" in self.schema["properties"] and value["label"] not in self.schema["properties"]["label"]["enum"]:
            return None, "unknown_label"
        return {k: value[k] for k in self.schema["properties"]}, None


def _dialogue(value: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    turns = value.get("turns")
    if not isinstance(turns, list) or not turns:
        return None, "missing_field"
    messages: list[dict[str, str]] = []
    for turn in turns:
        if not isinstance(turn, dict):
            return None, "missing_field"
        user, assistant = turn.get("user"), turn.get("assistant")
        if not isinstance(user, str) or not isinstance(assistant, str):
            return None, "missing_field"
        if not user.strip() or not assistant.strip():
            return None, "empty_field"
        if is_refusal(assistant):
            return None, "refusal"
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": messages}, None


def _fields_shape(name: str, fields: dict[str, str], max_chars: int, answers: tuple[str, ...],
                  answer_field: str | None = None) -> Shape:
    schema = _object({k: text_field(max_chars) for k in fields})
    desc = "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"
    ask = None
    if answer_field is not None:
        ask = _fields_shape(name, {k: v for k, v in fields.items() if k != answer_field}, max_chars, ())
    return Shape(name, schema, desc, answers, answer_field=answer_field, ask=ask)


def instruction_shape(max_chars: int) -> Shape:
    return _fields_shape("instruction", {"instruction": "the task or question a user gives",
                                         "response": "the ideal answer"}, max_chars, ("response",), "response")


def qa_shape(max_chars: int) -> Shape:
    return _fields_shape("qa", {"question": "a question", "answer": "its correct, complete answer"},
                         max_chars, ("answer",), "answer")


def preference_shape() -> Shape:
    """prompt, chosen, rejected: each written as free text (a question, then sampled answers a judge
    ranks), so no field has a length bound of its own: maxTokens bounds each call."""
    schema = _object({k: {"type": "string", "minLength": 1} for k in ("prompt", "chosen", "rejected")})
    return Shape("preference", schema, '{"prompt": what the user asks, "chosen": the response the judge scored '
                 'highest, "rejected": the one it scored lowest}')


def classification_shape(max_chars: int, labels: list[tuple[str, str | None]]) -> Shape:
    schema = _object({"text": text_field(max_chars), "label": {"type": "string", "enum": [n for n, _ in labels]}})
    names = "; ".join(f"{n}" + (f" ({d})" if d else "") for n, d in labels)
    return Shape("classification", schema, '{"text": an example input, "label": one of: ' + names + "}")


def dialogue_shape(max_chars: int, turns: int) -> Shape:
    turn = _object({"user": text_field(max_chars), "assistant": text_field(max_chars)})
    schema = _object({"turns": {"type": "array", "items": turn, "minItems": min(2, turns), "maxItems": turns}})
    desc = (f'{{"turns": [{{"user": what the user says, "assistant": the assistant\'s reply}}, ...]}} '
            f"with {min(2, turns)} to {turns} turns")
    return Shape("dialogue", schema, desc)


def custom_shape(schema: dict[str, Any]) -> Shape:
    """`task.outputSchema` (assumed checked already: see `datafoundry.strategies.inputs.check_schema`)."""
    import jsonschema  # type: ignore[import-untyped]

    validator = jsonschema.validators.validator_for(schema)(schema)
    desc = "it must validate against this JSON Schema: " + json.dumps(schema, ensure_ascii=False)[:4000]
    return Shape("custom", schema, desc, validator=validator)
