"""Deterministic hand-made texts for the filter tests."""

from __future__ import annotations

import random

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
