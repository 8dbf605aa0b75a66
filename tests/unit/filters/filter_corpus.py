"""Deterministic hand-made texts for the filter tests, and the quality filter's corpora.

Real text lives in ``corpora/real/<language>/*.jsonl`` (every JSONL file of a language folder is
read; see ``corpora/README.md``). Gibberish is generated here from fixed seeds: random-model
output, word-shuffled real records, keyboard mash, repeated phrases, random Hangul syllables.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CORPORA = Path(__file__).resolve().parent / "corpora"
REAL = CORPORA / "real"

_SYLLABLES = ("ka", "lo", "mi", "ra", "te", "su", "no", "vi", "de", "pa", "ro", "ne", "zu", "ha", "ti", "mo")


def vocabulary(size: int = 3000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def random_text(n_words: int, seed: int, vocab: list[str] | None = None) -> str:
    rng = random.Random(seed)
    vocab = vocab or vocabulary()
    return " ".join(rng.choice(vocab) for _ in range(n_words))


def replace_words(text: str, positions: list[int], seed: int) -> str:
    """The text with the words at ``positions`` replaced by words not in it."""
    words = text.split()
    rng = random.Random(seed)
    for i in positions:
        words[i] = f"zz{rng.randint(1000, 9999)}"
    return " ".join(words)


NORMAL_RECORDS: list[dict[str, object]] = [
    {
        "instruction": "Explain the difference between a list and a tuple in Python.",
        "output": "A list is mutable: you can append, remove or change its elements after creating it. "
        "A tuple is immutable, so once it is created its contents cannot change. Tuples are hashable "
        "when their elements are, which lets you use them as dictionary keys, and they are slightly "
        "faster to create. Use a list for a collection that grows, and a tuple for a fixed record.",
    },
    {
        "instruction": "What is the capital of France?",
        "output": "The capital of France is Paris.",
    },
    {
        "question": "If a train travels 120 km in 1.5 hours, what is its average speed?",
        "answer": "Average speed = distance / time = 120 km / 1.5 h = 80 km/h.",
    },
    {
        "instruction": "Write a Python function that returns the squares of the even numbers in a list.",
        "output": "```python\ndef even_squares(numbers: list[int]) -> list[int]:\n"
        '    """Return the squares of the even numbers, in order."""\n'
        "    return [n * n for n in numbers if n % 2 == 0]\n```\n\n"
        "For example, `even_squares([1, 2, 3, 4])` returns `[4, 16]`.",
    },
    {
        "instruction": "Correct the grammar of this sentence: 'She don't like the apples that was on the table.'",
        "output": "She doesn't like the apples that were on the table.",
    },
    {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant for a bank's support team."},
            {"role": "user", "content": "How do I reset my online banking password?"},
            {
                "role": "assistant",
                "content": "To reset your password:\n1. Open the login page and choose 'Forgot password'.\n"
                "2. Enter your customer number and the email address you registered.\n"
                "3. Follow the link in the email within 30 minutes.\n"
                "4. Choose a new password with at least 12 characters.\n"
                "If the link has expired, start again from step 1.",
            },
        ]
    },
    {
        "instruction": "List three benefits of regular exercise.",
        "output": "- It strengthens the heart and lowers blood pressure.\n"
        "- It improves mood and reduces stress.\n"
        "- It helps you sleep better and keeps your weight in a healthy range.",
    },
    {
        "prompt": "Summarise the water cycle in two sentences.",
        "response": "Water evaporates from oceans, lakes and plants, rises, cools and condenses into clouds. "
        "It then falls back as rain or snow and flows through rivers and groundwater to the sea.",
    },
    {
        "instruction": "Classify the sentiment of the review: 'The battery lasts all day and the screen is gorgeous.'",
        "output": "positive",
    },
    {
        "instruction": "Translate to Korean: 'Thank you for your help.'",
        "output": "도와주셔서 감사합니다.",
    },
    {
        "instruction": "Solve for x: 2x + 6 = 14.",
        "output": "Subtract 6 from both sides: 2x = 8. Divide both sides by 2: x = 4.",
    },
]


# --------------------------------------------------------------------------------------------
# real text
# --------------------------------------------------------------------------------------------


def load_real(root: Path = REAL) -> dict[str, list[dict[str, Any]]]:
    """Records of every ``<root>/<language>/*.jsonl`` file, by language folder."""
    corpus: dict[str, list[dict[str, Any]]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        records = corpus.setdefault(folder.name, [])
        for path in sorted(folder.glob("*.jsonl")):
            with path.open(encoding="utf-8") as f:
                records.extend(json.loads(line) for line in f if line.strip())
    return corpus


def handwritten(language: str) -> list[dict[str, Any]]:
    """The records written for these tests (the sources of the shuffled and random-model gibberish,
    so that adding real text elsewhere in the corpus does not change the gibberish)."""
    records = []
    for path in sorted((REAL / language).glob("handwritten*.jsonl")):
        with path.open(encoding="utf-8") as f:
            records.extend(json.loads(line) for line in f if line.strip())
    return records


def response_of(record: dict[str, Any]) -> str:
    if "response" in record:
        return str(record["response"])
    return str(record["messages"][-1]["content"])


def instruction_of(record: dict[str, Any]) -> str:
    if "instruction" in record:
        return str(record["instruction"])
    return str(next(m["content"] for m in record["messages"] if m["role"] == "user"))


# --------------------------------------------------------------------------------------------
# gibberish
# --------------------------------------------------------------------------------------------

_WORDISH = re.compile(r"[a-z]{4,}")


def _subword_pieces(texts: list[str], seed: int) -> list[str]:
    """Byte-pair-like pieces: chunks of 2-5 letters of real words, plus consonant-vowel syllables."""
    rng = random.Random(seed)
    pieces: set[str] = {c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"}
    for text in texts:
        for word in _WORDISH.findall(text.lower()):
            i = 0
            while i < len(word):
                size = rng.randint(2, 5)
                pieces.add(word[i : i + size])
                i += size
    return sorted(pieces)


def random_model_outputs(texts: list[str], count: int, seed: int) -> list[str]:
    """What a randomly initialised model samples: sub-word pieces glued into made-up words
    ("jefebitween hidizu brownrmamodacili"), now and then a punctuation mark, digit or newline.
    Lengths follow a model sampling up to its token limit: 40-300 pieces (~15-110 words)."""
    rng = random.Random(seed)
    pieces = _subword_pieces(texts, seed)
    marks = [",", ".", ":", ";", "!", "?", "'", '"', "(", ")", "-", "/"]
    out = []
    for _ in range(count):
        tokens: list[str] = []
        for _ in range(rng.randint(40, 300)):
            r = rng.random()
            if r < 0.04:
                tokens.append(rng.choice(marks))
            elif r < 0.06:
                tokens.append(" " + str(rng.randint(0, 999)))
            elif r < 0.07:
                tokens.append("\n")
            else:
                piece = rng.choice(pieces)
                tokens.append(" " + piece if rng.random() < 0.35 else piece)
        out.append("".join(tokens).strip())
    return out


def shuffled_records(records: list[dict[str, Any]], seed: int, min_sentences: int = 2) -> list[dict[str, Any]]:
    """Each record with the words of its instruction and of its response shuffled (lines joined):
    stop words and punctuation survive, sentence order does not. Responses of fewer than
    ``min_sentences`` sentences are left out: a one-sentence answer keeps its only full stop."""
    rng = random.Random(seed)
    out = []
    for record in records:
        response = response_of(record)
        if len(re.findall(r"[.!?](?:\s|$)", response)) < min_sentences:
            continue
        shuffled = []
        for text in (instruction_of(record), response):
            words = text.split()
            rng.shuffle(words)
            shuffled.append(" ".join(words))
        out.append({"instruction": shuffled[0], "response": shuffled[1]})
    return out


_KEY_ROWS = ("qwertyuiop", "asdfghjkl;", "zxcvbnm,./", "1234567890")
_HANGUL_KEY_ROWS = ("ㅂㅈㄷㄱㅅㅛㅕㅑㅐㅔ", "ㅁㄴㅇㄹㅎㅗㅓㅏㅣ", "ㅋㅌㅊㅍㅠㅜㅡ")
_HANGUL_MASH = ("ㅋㅋㅋ", "ㅋㅋㅋㅋㅋ", "ㅎㅎ", "ㅎㅎㅎ", "ㅠㅠ", "ㅜㅜ", "ㄱㄱ", "ㅇㅇ")


def keyboard_mash(count: int, seed: int, hangul: bool = False) -> list[str]:
    """Runs along keyboard rows ("asdf jkl; qwer", "ㅁㄴㅇㄹ ㅋㅋㅋ"), 8-40 tokens."""
    rng = random.Random(seed)
    rows = _HANGUL_KEY_ROWS if hangul else _KEY_ROWS
    out = []
    for _ in range(count):
        tokens = []
        for _ in range(rng.randint(8, 40)):
            if hangul and rng.random() < 0.3:
                tokens.append(rng.choice(_HANGUL_MASH))
                continue
            row = rng.choice(rows)
            start = rng.randrange(len(row) - 1)
            run = row[start : start + rng.randint(2, 6)]
            if rng.random() < 0.2:
                run = run * rng.randint(2, 3)
            tokens.append(run.upper() if not hangul and rng.random() < 0.1 else run)
        sep = "\n" if rng.random() < 0.2 else " "
        out.append(sep.join(tokens))
    return out


def repeated_phrases(texts: list[str], count: int, seed: int) -> list[str]:
    """A model stuck in a loop: a phrase of 1-6 words from real prose ("the best"), repeated to
    20-150 words, sometimes as sentences or lines, sometimes after a normal opening sentence."""
    rng = random.Random(seed)
    prose = [t for t in texts if ". " in t and not set(t) & set("`{}[]<>=;|")]  # no code, tables, JSON
    words = " ".join(prose).split()
    out = []
    for _ in range(count):
        size = rng.randint(1, 6)
        start = rng.randrange(len(words) - size)
        phrase = " ".join(words[start : start + size]).strip(".,;:!?")
        style = rng.choice(["plain", "sentence", "line", "opening"])
        reps = max(2, rng.randint(20, 150) // max(1, len(phrase.split())))
        if style == "sentence":
            text = " ".join([phrase[:1].upper() + phrase[1:] + "."] * reps)
        elif style == "line":
            text = "\n".join([phrase] * reps)
        elif style == "opening":
            text = rng.choice(prose).split("\n")[0] + " " + " ".join([phrase] * reps)
        else:
            text = " ".join([phrase] * reps)
        out.append(text)
    return out


def _hangul_syllables() -> list[str]:
    """The 2,350 Hangul syllables of KS X 1001 (the common ones), from the EUC-KR table."""
    return [bytes([hi, lo]).decode("euc-kr") for hi in range(0xB0, 0xC9) for lo in range(0xA1, 0xFF)]


def random_hangul(count: int, seed: int) -> list[str]:
    """Random Hangul syllables in eojeol of 1-4 syllables, 10-80 eojeol, now and then a comma or
    full stop after one."""
    rng = random.Random(seed)
    syllables = _hangul_syllables()
    out = []
    for _ in range(count):
        eojeol = []
        for _ in range(rng.randint(10, 80)):
            word = "".join(rng.choice(syllables) for _ in range(rng.randint(1, 4)))
            r = rng.random()
            eojeol.append(word + ("," if r < 0.05 else "." if r < 0.08 else ""))
        out.append(" ".join(eojeol))
    return out


def as_records(responses: list[str], instructions: list[str]) -> Iterator[dict[str, Any]]:
    """Gibberish responses to real instructions (the generator's prompt is real text)."""
    for i, response in enumerate(responses):
        yield {"instruction": instructions[i % len(instructions)], "response": response}
