from __future__ import annotations

from pathlib import Path

from datafoundry.filters import Action, LengthFilter
from datafoundry.filters.text import count_tokens


def test_char_bounds() -> None:
    f = LengthFilter(min_chars=5, max_chars=20)
    assert f.apply({"text": "1234"}).reason == "too_few_chars"
    assert f.apply({"text": "12345"}).action is Action.KEEP
    assert f.apply({"text": "x" * 20}).action is Action.KEEP
    assert f.apply({"text": "x" * 21}).reason == "too_many_chars"
    # instruction + output joined by a newline: 3 + 1 + 3 characters
    assert LengthFilter(min_chars=7).apply({"instruction": "abc", "output": "def"}).action is Action.KEEP
    assert LengthFilter(min_chars=8).apply({"instruction": "abc", "output": "def"}).action is Action.DROP


def test_regex_token_bounds() -> None:
    assert count_tokens("Hello, world! 3.5 km") == 8  # Hello , world ! 3 . 5 km
    assert count_tokens("파이썬 리스트") == 2
    assert count_tokens("列表和元组") == 5
    f = LengthFilter(min_tokens=3, max_tokens=6)
    assert f.apply({"text": "one two"}).reason == "too_few_tokens"
    assert f.apply({"text": "one two three"}).action is Action.KEEP
    assert f.apply({"text": "one two three four five six seven"}).reason == "too_many_tokens"


def test_tokenizer_json(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "hello": 1, "world": 2}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    f = LengthFilter(max_tokens=3, tokenizer=path)
    assert f.apply({"text": "hello world hello"}).action is Action.KEEP
    assert f.apply({"text": "hello world hello world"}).reason == "too_many_tokens"
    assert LengthFilter(max_tokens=4, tokenizer=path).apply({"text": "hello world hello world"}).action is Action.KEEP
