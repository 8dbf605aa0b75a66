"""Natural English for tests where filters judge content: records assembled from grammatical
templates and phrase banks, seeded, plus a German paragraph.

Real prose with stop words and full stops that the language and quality filters keep (a filter is
proven on text it must keep, never passed with word salad), and so many combinations that distinct
records share no long word sequence: MinHash and decontamination see them unrelated.
"""

from __future__ import annotations

import random
from typing import Any, TypeVar

T = TypeVar("T")

GERMAN = ("Der schnelle braune Fuchs springt über den faulen Hund und läuft danach in den Wald, "
          "wo er sich unter einem großen Baum ausruht und auf den Abend wartet. Die Kinder spielen "
          "im Garten, während ihre Eltern in der Küche das Abendessen für die ganze Familie kochen.")

SUBJECTS = [
    "the warehouse team", "our night shift", "the new driver", "the dispatch manager", "a small supplier",
    "the finance office", "every site lead", "the customer service desk", "the regional planner",
    "our oldest client", "the safety officer", "the loading crew", "the purchasing clerk", "a temporary worker",
    "the fleet mechanic", "the quality inspector", "the head of operations", "the route planner",
    "the inventory analyst", "the office manager", "a junior accountant", "the harbour agent",
    "the weekend supervisor", "the sales assistant", "the training coordinator", "our courier partner",
    "the cold storage team", "the returns clerk", "the yard marshal", "the shift leader",
]
# (base form, past tense) of verbs that take an object
VERBS = [
    ("check", "checked"), ("review", "reviewed"), ("move", "moved"), ("count", "counted"),
    ("label", "labelled"), ("repair", "repaired"), ("reschedule", "rescheduled"), ("approve", "approved"),
    ("cancel", "cancelled"), ("pack", "packed"), ("weigh", "weighed"), ("inspect", "inspected"),
    ("return", "returned"), ("update", "updated"), ("sign", "signed"), ("load", "loaded"),
    ("store", "stored"), ("sort", "sorted"), ("track", "tracked"), ("clean", "cleaned"),
    ("photograph", "photographed"), ("replace", "replaced"), ("measure", "measured"), ("collect", "collected"),
    ("deliver", "delivered"), ("print", "printed"), ("forward", "forwarded"), ("order", "ordered"),
]
OBJECTS = [
    "the late shipment", "every pallet in aisle four", "the monthly fuel report", "the broken scanner",
    "three crates of glassware", "the delivery schedule", "the spare tyres", "the new contract",
    "the returned parcels", "the customs forms", "a list of open orders", "the cold storage log",
    "the invoices from March", "the damaged boxes", "the shelving plan", "the driver timesheets",
    "a sample of the new packaging", "the stock in the back room", "the keys to the second van",
    "the labels for the export order", "the temperature records", "the supplier price list",
    "the first aid kit", "the tool cabinet", "two crates of fresh fruit", "the lost property box",
    "the weekly rota", "the insurance papers", "the order for the bakery", "the old forklift",
]
ADJUNCTS = [
    "before the trucks left", "after lunch on Friday", "with the help of two volunteers", "in less than an hour",
    "during the morning inspection", "at the loading dock", "without telling the office",
    "for the second time this week", "as soon as the rain stopped", "near the main gate",
    "while the manager was away", "on the way back from the port", "late in the evening",
    "early on Monday morning", "in front of the customer", "with a borrowed ladder",
    "under the supervision of the auditor", "by the end of the shift", "despite the heavy traffic",
    "in the corner of the yard", "just before closing time", "after the fire drill",
    "in the small meeting room", "on the top floor of the depot", "with more care than usual",
]
CLAUSES = [
    "the forklift battery ran out", "a customer called about a missing box", "the road to the harbour was closed",
    "the printer jammed again", "two drivers were on holiday", "the stock count did not match",
    "the heating failed in the cold room", "a pallet fell from the top shelf", "the new software crashed",
    "the ferry was delayed by a storm", "the bank rejected a payment", "the inspector arrived without warning",
    "a van broke down on the motorway", "the alarm went off at night", "the supplier raised its prices",
    "someone left the side door open", "the scales gave strange readings", "a parcel came back unopened",
    "the phone lines were down all morning", "the fuel card stopped working", "the roof leaked over bay six",
    "a large order arrived a day early", "the barcode labels were printed twice", "the lift in the office broke",
]
REASONS = [
    "the labels were wrong", "the old rack was not safe", "nothing should get lost over the holidays",
    "the customer wanted a full record", "the auditors were coming next week", "the numbers looked too good",
    "the last delivery had been late", "the contract had changed in January", "the boxes were far too heavy",
    "the manager asked for a second opinion", "the weather report was bad", "half of the stock was expired",
    "the van had to be back by noon", "the insurer needed photographs", "the previous count was a guess",
]
HELPERS = ["a colleague from accounts", "the whole team", "an outside electrician", "the night guard",
           "a patient customer", "two students on placement", "the owner of the company", "a neighbour"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
NUMBERS = ["two", "three", "four", "five", "six", "seven", "eight"]

SENTENCES = [
    "{S} {past} {o} {a}.",
    "{A}, {s} {past} {o}.",
    "{S} {past} {o} because {r}.",
    "When {c}, {s} {past} {o} {a}.",
    "{S} had to {base} {o} again, since {r}.",
    "It took {n} hours to {base} {o}, and {s} {past} {o2} {a}.",
    "Nobody expected that {c}, so {s} {past} {o} {a}.",
    "{S} will {base} {o} on {day} and {base2} {o2} {a}.",
    "After {c}, {s} decided to {base} {o} with {h}.",
    "The problem was that {c}, so {s} {past} {o} to fix it.",
    "Because {r}, {s} asked {h} to {base} {o} {a}.",
    "{S} said that {c} and that it would take {n} days to {base} {o}.",
]
QUESTIONS = [
    "How should {s} {base} {o} {a}?",
    "Explain why {s} {past} {o} {a}.",
    "Write a short note for {s} about how to {base} {o}.",
    "What went wrong when {c}, and what should {s} do next?",
    "Describe the best way to {base} {o} when {c}.",
    "Summarise what {s} did after {c}.",
    "Is it a good idea to {base} {o} {a}, and why?",
    "Give {s} some advice on how to {base} {o} if {c}.",
]


class _Deck:
    """Draws phrases without repeats within one text: a record does not say the same thing twice."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.left: dict[int, list[Any]] = {}

    def draw(self, bank: list[T]) -> T:
        left: list[T] = self.left.setdefault(id(bank), [])
        if not left:
            left.extend(self.rng.sample(bank, len(bank)))
        return left.pop()


def _fill(deck: _Deck, templates: list[str]) -> str:
    (base, past), (base2, _) = deck.draw(VERBS), deck.draw(VERBS)
    s = deck.draw(SUBJECTS)
    out = deck.draw(templates).format(
        S=s, s=s, A=(a := deck.draw(ADJUNCTS)), a=a, base=base, past=past, base2=base2, o=deck.draw(OBJECTS),
        o2=deck.draw(OBJECTS), c=deck.draw(CLAUSES), r=deck.draw(REASONS), h=deck.draw(HELPERS),
        day=deck.draw(DAYS), n=deck.draw(NUMBERS))
    return out[0].upper() + out[1:]


def question(rng: random.Random) -> str:
    return _fill(_Deck(rng), QUESTIONS)


def text(rng: random.Random, sentences: int = 6) -> str:
    deck = _Deck(rng)
    return " ".join(_fill(deck, SENTENCES) for _ in range(sentences))


def record(rng: random.Random, tag: str) -> dict[str, Any]:
    return {"id": tag, "instruction": question(rng), "response": text(rng)}


def edit_words(value: str, every: int, rng: random.Random) -> str:
    """Replace every `every`-th word (from the middle of the first interval), keeping its
    capital letter and the punctuation around it."""
    words = value.split(" ")
    for i in range(every // 2, len(words), every):
        core = words[i].strip(".,;:?!")
        new = rng.choice(["blue", "seven", "window", "careful", "paper", "orange"])
        if core:
            words[i] = words[i].replace(core, new.capitalize() if core[0].isupper() else new, 1)
    return " ".join(words)


def paraphrase(value: str, rng: random.Random) -> str:
    """The same sentences about other people and things: every subject and object phrase of
    `value` replaced by one it does not use (a related record, far from a near duplicate)."""
    def cap(phrase: str) -> str:
        return phrase[0].upper() + phrase[1:]

    for bank in (SUBJECTS, OBJECTS):
        used = [p for p in bank if p in value or cap(p) in value]
        fresh = rng.sample([p for p in bank if p not in used], len(used))
        for old, new in zip(used, fresh, strict=True):
            value = value.replace(old, new).replace(cap(old), cap(new))
    return value


#: A small benchmark (yes/no questions about general knowledge): nothing the records say by chance.
EVAL_QUESTIONS = [
    "A train leaves the station at nine and travels at sixty miles per hour for two hours. "
    "Has it covered more than one hundred miles by eleven o'clock?",
    "The moon takes about twenty-seven days to travel once around the earth. "
    "Does it also turn once on its own axis in that time?",
    "Plants take in carbon dioxide from the air and release oxygen while they make sugar from sunlight. "
    "Is this process called photosynthesis?",
    "A farmer has seventeen sheep, and all but nine of them run away through a hole in the fence. "
    "Are nine sheep left on the farm?",
    "Water expands when it freezes, which is why a full glass bottle can crack in the freezer. "
    "Is ice less dense than liquid water?",
]
