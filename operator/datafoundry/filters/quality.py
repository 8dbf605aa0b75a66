"""Heuristic quality filter: the Gopher, C4 and FineWeb rules, adapted to instruction records.

The references judge web documents of 50 words or more. Here a record is an instruction and a
response (or chat turns), often a single sentence, so every rule runs **per field** (instruction,
response, each chat turn) and only from the length at which its statistic means something; a
correct one-line answer is never judged by a rule meant for web pages. Code is not prose: fenced
code blocks, inline code, a field that is one JSON value and a field that looks like unfenced code
or ``key: value`` data (:func:`looks_like_code`) are left out of the word and line rules. Each drop
names its rule; the reason strings are listed in :data:`RULES`.

Record level (all fields together):

=====================  ===========================================================  ==========
reason                 rule (default)                                               applies
=====================  ===========================================================  ==========
too_few_words          fewer than ``min_words`` words (3)                           always
too_many_words         more than ``max_words`` words (no limit)                     always
refusal                a refusal / AI disclaimer phrase ("As an AI language model") always
boilerplate            web or chat boilerplate ("all rights reserved", ...)         always
lorem_ipsum            "lorem ipsum" (C4)                                           always
javascript             "enable JavaScript"-style page boilerplate (C4, see below)   always
curly_braces           a ``{`` in prose (C4; **off** by default, see below)         always
symbol_char_ratio      non-word characters over non-space characters > 0.5          always
=====================  ===========================================================  ==========

Field level ("words" = prose words, numbers left out for the two language rules; "lines" =
non-empty prose lines; "sentence words" = words outside list items, table rows and headings):

=========================  ===============================================================  ==================
reason                     rule (default, reference)                                        applies from
=========================  ===============================================================  ==================
long_word                  a run of more than 50 letters and digits in prose (see below)    always
symbol_word_ratio          ``#`` per word, or ellipses per word, > 0.1 (Gopher)             10 words
stop_words                 < 2 stop words of the language (Gopher), and < 5% of the words   10 sentence words
mean_word_length           mean word length outside 3-10 (Gopher; per language)             15 sentence words
alpha_words                under 80% of words contain a letter (Gopher)                     50 words
terminal_punctuation       a response's last line does not end a sentence (C4)              8 words on it
lowercase_sentences        >= 50% of sentence ends are followed by a lowercase word         responses
ellipsis_lines             > 30% of lines end with an ellipsis (Gopher)                     4 lines
bullet_lines               > 90% of lines start with a bullet glyph (Gopher)                10 lines
duplicate_lines            > 30% of lines are repeats (Gopher)                              4 lines
duplicate_line_chars       > 20% of characters in repeated lines (Gopher)                   4 lines
duplicate_paragraphs       > 30% of paragraphs are repeats (Gopher)                         3 paragraphs
duplicate_paragraph_chars  > 20% of characters in repeated paragraphs (Gopher)              3 paragraphs
line_punctuation           < 12% of lines end in punctuation (FineWeb)                      10 prose lines
short_lines                > 67% of lines have at most 30 characters (FineWeb)              10 prose lines
char_duplicates            > 1% of characters in repeated lines (FineWeb)                   10 prose lines
top_2gram .. top_4gram     the top n-gram covers > 20/18/16% of characters (Gopher)         12 words (*)
duplicate_5gram .. 10gram  > 15..10% of characters in repeated n-grams (Gopher)             50 words
compression_ratio          the field (code included) compresses more than 6:1 with zlib     20 words
=========================  ===============================================================  ==================

(*) under 50 words the top n-gram must also occur 3 times: two mentions of "machine learning"
in a 20-word answer are not a loop.

Adaptations, and why:

* **Stop words and word length are per language** (:mod:`datafoundry.filters.stopwords`): lists
  for en, ko, de, fr, es, it, pt, nl, ru, uk, pl, sv, tr, id, vi; Korean matches particles as
  eojeol endings. Languages without a list skip the stop-word rule; languages written without
  spaces (zh, ja, th, ...) skip the word rules. A field written in another script than the job's
  language (a Korean translation in an English job) skips the two language rules, and a field that
  fails the job language's stop words but passes another list of the same script (a French
  translation in an English job) is kept. Gopher's count of 2 is joined by a share of 5% (from 40
  words): made-up words now and then form a stop word ("to", "be"), real prose has 15% or more.
* **Terminal punctuation** (C4 keeps only lines ending in ``. ! ? "``): the last line of a
  *response* that has 8 words or more must end a sentence (optionally followed by closing quotes,
  brackets, emphasis or emoji; a Korean ending such as 다 or 요 also closes one). Shorter lines
  after it (a signature, the name under a letter) are passed over, and then it may also end with
  ``: , ;``. Fine ends: a list item, table row or heading, a one-line headline in Title Case, a
  closed code block. Ending inside an unclosed code block, or with an ellipsis, counts as cut off.
  Prompts (instruction, question, user turns) are exempt: people type them without punctuation.
* **Lowercase sentences**: in a response, at least half of the sentence ends (``. ! ?`` after a
  word that is not an abbreviation, an initial or a number) are followed by a lowercase word. Real
  prose does not do this; word-shuffled text does (stop words and full stops survive a shuffle,
  where they land does not).
* **javascript**: C4 removes every *line* mentioning JavaScript, which here would drop every
  question about the language; only page boilerplate ("enable JavaScript", "JavaScript is
  disabled", ...) drops a record.
* **curly_braces**: C4 drops every page with a ``{``. Code, JSON and templates are legitimate in
  instruction data, so the rule is off by default; switched on, it drops records with a ``{``
  outside code (fenced, inline, JSON-only or unfenced code fields).
* **Bullets** are glyphs (``•``, ``●``, ``▪``, ...; as DataTrove), not Markdown list markers: an
  answer that is a list is legitimate. **Hashes** do not count Markdown heading markers
  (``## Usage``) or a ``#`` after a letter (C#). **Numbers** are not words for the mean word
  length, so arithmetic answers are not "too short".
* **FineWeb line rules** read prose lines that are not list items, table rows or headings
  (``line_punctuation`` also accepts a line ending in ``:``, which introduces a list or code).
* **long_word**: Gopher bounds the *mean* word length (3-10), which one degenerate token in a
  long answer does not move, and C4 drops lines with a word over 1,000 characters, far above what
  a model emits when it degenerates ("BBBB...", 150 characters, published by ``make demo``). Here
  a field drops when its prose has a run of more than ``max_word_chars`` (50) letters and digits.
  Runs stop at punctuation, so URLs, paths, e-mail addresses, dotted or snake_case identifiers and
  hyphenated compounds are judged by their parts (real English peaks near 45:
  pneumonoultramicroscopicsilicovolcanoconiosis); code (fenced, inline, unfenced), hexadecimal
  digests up to 128 digits (SHA-512) and scripts without spaces (Chinese, Japanese, Thai) are
  exempt.
* **Line duplication** ignores lines shorter than 8 characters (``---``, ``}``), and code.
* **N-grams** are measured as DataTrove does: the top n-gram's occurrences (its words joined by
  spaces) and the repeated n-grams' characters, over the length of the field's prose.
"""

from __future__ import annotations

import re
import string
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from math import ceil
from typing import Any, TypeVar

from datafoundry.filters.base import DEFAULT_TEXT_FIELDS, KEEP, Filter, FilterResult, Record
from datafoundry.filters.stopwords import NO_SPACE_CHARS, LanguageProfile, profile_for, same_script_stop_words

DEFAULT_REFUSAL_PHRASES: tuple[str, ...] = (
    "as an ai language model",
    "as a language model",
    "as an ai assistant, i",
    "as a large language model",
    "i'm just an ai",
    "i am just an ai",
    "i cannot help with that",
    "i can't help with that",
    "i cannot assist with that",
    "i can't assist with that",
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "i'm not able to help with that",
    "i cannot fulfill this request",
    "i can't fulfill this request",
    "i cannot comply with",
    "i can't comply with",
    "i must decline",
    "i'm unable to provide",
    "i am unable to provide",
)

DEFAULT_BOILERPLATE_PHRASES: tuple[str, ...] = (
    "my knowledge cutoff",
    "my training data only goes",
    "i don't have access to real-time",
    "i do not have access to real-time",
    "as of my last update",
    "as of my last training",
    "click here to subscribe",
    "all rights reserved",
    "this website uses cookies",
    "accept all cookies",
)

LOREM_IPSUM_PHRASES: tuple[str, ...] = ("lorem ipsum",)
#: C4 drops lines that mention JavaScript; page boilerplate only here (see the module docstring).
JAVASCRIPT_PHRASES: tuple[str, ...] = (
    "enable javascript",
    "javascript is disabled",
    "javascript is not enabled",
    "javascript is required",
    "javascript must be enabled",
    "javascript needs to be enabled",
    "turn on javascript",
    "javascript is turned off",
    "requires javascript to",
)

#: Gopher: the most frequent n-gram may cover at most this fraction of the characters.
DEFAULT_TOP_NGRAM_CHAR_FRACTION: Mapping[int, float] = {2: 0.20, 3: 0.18, 4: 0.16}
#: Gopher: characters inside repeated n-grams (second and later occurrences), at most this fraction.
DEFAULT_DUP_NGRAM_CHAR_FRACTION: Mapping[int, float] = {
    5: 0.15,
    6: 0.14,
    7: 0.13,
    8: 0.12,
    9: 0.11,
    10: 0.10,
}

#: Every drop reason of the filter (each one is a rule that ``disabled_rules`` can switch off).
RULES: tuple[str, ...] = (
    "too_few_words",
    "too_many_words",
    "refusal",
    "boilerplate",
    "lorem_ipsum",
    "javascript",
    "curly_braces",
    "symbol_char_ratio",
    "long_word",
    "symbol_word_ratio",
    "stop_words",
    "mean_word_length",
    "alpha_words",
    "terminal_punctuation",
    "lowercase_sentences",
    "ellipsis_lines",
    "bullet_lines",
    "duplicate_lines",
    "duplicate_line_chars",
    "duplicate_paragraphs",
    "duplicate_paragraph_chars",
    "line_punctuation",
    "short_lines",
    "char_duplicates",
    *(f"top_{n}gram" for n in (2, 3, 4)),
    *(f"duplicate_{n}gram" for n in range(5, 11)),
    "compression_ratio",
)


@dataclass(frozen=True, slots=True)
class Gates:
    """From what size of a field each family of rules applies (words are prose words)."""

    symbol_words: int = 10  #: symbol_word_ratio
    stop_words: int = 10  #: stop_words (sentence words: not numbers, list items, table rows, headings)
    mean_word_length: int = 15  #: mean_word_length (sentence words)
    alpha_words: int = 50  #: alpha_words (Gopher's minimum document length)
    terminal_line_words: int = 8  #: terminal_punctuation: words on the last line
    gopher_lines: int = 4  #: ellipsis_lines, duplicate_lines, duplicate_line_chars
    bullet_lines: int = 10  #: bullet_lines
    paragraphs: int = 3  #: duplicate_paragraphs, duplicate_paragraph_chars
    fineweb_lines: int = 10  #: line_punctuation, short_lines, char_duplicates
    ngram_words: int = 12  #: top_ngram (below ngram_full_words: the n-gram must occur 3 times)
    ngram_full_words: int = 50  #: duplicate_ngram; top_ngram with 2 occurrences
    compression_words: int = 20  #: compression_ratio (real prose stays under 2; loops go far over 6)
    dup_line_chars: int = 8  #: lines shorter than this are not compared for duplication


# Words are whitespace-separated tokens without the punctuation around them ("(100)," -> "100",
# "don't", "3.14" and "by-product" stay whole), as Gopher's tokens; a token of punctuation only
# ("=", "-", "—") is no word.
_PUNCT = string.punctuation + "“”‘’«»‹›„‚…—–−×÷±≈≠≤≥°·•→←↔⇒、。，；：！？（）【】「」『』《》〈〉"


def _words(text: str) -> list[str]:
    return [w for t in text.split() if (w := t.strip(_PUNCT))]


_NO_SPACE_RE = re.compile(f"[{NO_SPACE_CHARS}]")
_HEX_DIGITS = frozenset(string.hexdigits)
_SYMBOL_RE = re.compile(r"[^\w\s]")
_INLINE_CODE_RE = re.compile(r"`[^`\n]*`")
_HEADING_HASHES_RE = re.compile(r"^[ \t]*(#{1,6})[ \t]", re.MULTILINE)
_WORD_HASH_RE = re.compile(r"\w#")
_PARAGRAPH_SPLIT_RE = re.compile(r"\n[ \t]*\n\s*")
_FENCES = ("```", "~~~")
# The first line of unfenced code: a definition, an import, a statement with its syntax.
_CODE_START_RE = re.compile(
    r"(?:def|fn|func|function)\s+\w+\s*\(|class\s+\w+\s*[(:{]|(?:const|let|var)\s+\w+\s*=|import\s+[\w.]+(?:\s+as\s+\w+)?$"
    r"|from\s+[\w.]+\s+import\s|#include\s*[<\"]|#!/|package\s+[\w.]+;?$|(?:public|private)\s+(?:static\s+)?\w+\s+\w+"
    r"|SELECT\s.+\sFROM\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|CREATE\s+(?:TABLE|INDEX|VIEW)\s"
    r"|ALTER\s+TABLE\s|WITH\s+\w+\s+AS\s*\(|apiVersion:\s|<\?php|<!DOCTYPE|<html"
)
_CODE_ENDINGS = (";", "{", "}", ")", ",", "[", "]")
_KEY_VALUE_RE = re.compile(r"[\w.\-\"']+:(?:\s|$)")
# List items, table rows and headings: structure, not sentences.
_STRUCTURE_RE = re.compile(r"(?:[-*+•●▪◦‣⁃■□►▸✓✔]|\d{1,3}[.)]|[a-zA-Z][.)]|#{1,6})(?:\s|$)|\|")
_BULLETS = ("•", "●", "○", "◦", "▪", "▫", "‣", "⁃", "■", "□", "►", "▸", "➢", "➤", "✓", "✔")
_ELLIPSES = ("...", "…")
# Sentence terminals (Unicode Sentence_Terminal, the common ones) and what may follow them.
_TERMINALS = frozenset(".!?。！？．｡؟۔।॥։።။‼‽⁇⁈⁉﹒﹖﹗")
_QUOTES = frozenset("\"'”’»」』")
_CLOSERS = frozenset(")]}>*_`\"'”’»」』")
# Korean sentences may close with the ending alone (합니다, 해요, 했음): a finished sentence.
_HANGUL_ENDINGS = frozenset("다요죠음함임됨까")
_TRAILING_CATEGORIES = frozenset({"So", "Sk", "Mn", "Cf", "Me"})  # emoji, variation selectors, ZWJ
_LINE_PUNCTUATION = tuple(_TERMINALS | _QUOTES | {":"})
# A sentence end followed by a word: the lowercase_sentences rule.
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "approx", "incl", "excl", "misc", "dept",
    "est", "govt", "inc", "ltd", "co", "corp", "no", "nos", "vol", "vols", "pp", "ch", "sec", "fig", "figs", "eq",
    "al", "cf", "ca", "viz", "resp", "min", "max", "avg", "ft", "lb", "lbs", "oz", "km", "kg", "mm", "cm", "hr",
    "hrs", "yr", "yrs", "mt", "ave", "blvd", "bzw", "usw", "vgl", "ggf", "env", "apt",
})
_OPENING = "(\"'*“‘«¿¡["
# sentence-final marks (group 1), closing quotes or brackets, spaces, then a word (group 2)
_SENTENCE_END_RE = re.compile(r"([.!?]+)[\"')\]*_”’»]*[ \t]+[(\"'*“‘«¿¡\[]*([^\W\d_]\w*)")
# a cheap first pass: a sentence end followed by a lowercase letter (Latin, Greek, Cyrillic) at all
_LOWER_START_RE = re.compile(
    r"[.!?][\"')\]*_”’»]*[ \t]+[(\"'*“‘«¿¡\[]*[a-zß-öø-ÿ\u0100-\u024f\u03ac-\u03ce\u0430-\u045f]"
)
_DIGIT_RE = re.compile(r"\d")
_T = TypeVar("_T", int, float)
_PROMPT_FIELDS = frozenset({"system", "instruction", "prompt", "question", "input", "context", "query"})
_PROMPT_ROLES = frozenset({"system", "user", "human", "developer", "tool"})


_ASCII_WORD_OR_SPACE = bytes(i for i in range(128) if not _SYMBOL_RE.match(chr(i)))


def count_symbols(text: str) -> int:
    """Characters that are neither word characters nor whitespace (``[^\\w\\s]``)."""
    if text.isascii():  # bytes.translate deletes the others in one C pass; the same count
        return len(text.encode("ascii").translate(None, _ASCII_WORD_OR_SPACE))
    return len(_SYMBOL_RE.findall(text))


def _fold(text: str) -> str:
    return text.casefold().replace("\u2019", "'")


def _trie_pattern(phrases: Iterable[str]) -> str:
    """A regex alternation of literal phrases, factored as a trie (fails fast at each position)."""
    trie: dict[str, Any] = {}
    for phrase in phrases:
        node = trie
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + emit(node[ch]) for ch in sorted(node) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


@dataclass(frozen=True, slots=True)
class _Phrases:
    """Literal phrases of several kinds, matched as whole words; ``search`` names the kind found.

    A text is only scanned when it contains the key word (the longest one) of some phrase."""

    pattern: re.Pattern[str] | None
    kinds: Mapping[str, str]
    keys: frozenset[str] | None  # None: a phrase without a usable key word, always scan

    @staticmethod
    def build(groups: Mapping[str, Sequence[str]]) -> _Phrases:
        kinds: dict[str, str] = {}
        for kind, phrases in groups.items():
            for phrase in phrases:
                if phrase.strip():
                    kinds.setdefault(_fold(phrase.strip()), kind)
        if not kinds:
            return _Phrases(None, kinds, frozenset())
        keys: set[str] | None = set()
        for phrase in kinds:
            candidates = [w for w in _words(phrase) if "'" not in w]
            if not candidates or keys is None:
                keys = None
                continue
            keys.add(max(candidates, key=len))
        pattern = re.compile(r"(?<!\w)(?:" + _trie_pattern(kinds) + r")(?!\w)")
        return _Phrases(pattern, kinds, None if keys is None else frozenset(keys))

    def search(self, text: str, words: Iterable[str]) -> str | None:
        """The kind of the first phrase in ``text``; ``words`` are its lowercased words."""
        if self.pattern is None or (self.keys is not None and self.keys.isdisjoint(words)):
            return None
        m = self.pattern.search(_fold(text))
        return None if m is None else self.kinds[m.group()]


def _iter_fields(record: Mapping[str, object], fields: Sequence[str]) -> Iterator[tuple[str, bool]]:
    """(text, is_response) of every non-empty field and chat turn."""
    for key in fields:
        value = record.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            if value:
                yield value, key not in _PROMPT_FIELDS
            continue
        if not isinstance(value, list):
            continue
        for item in value:
            if isinstance(item, str):
                if item:
                    yield item, key not in _PROMPT_FIELDS
            elif isinstance(item, dict):
                role = item.get("role", item.get("from"))
                response = not (isinstance(role, str) and role.lower() in _PROMPT_ROLES)
                content = item.get("content", item.get("value"))
                if isinstance(content, str):
                    if content:
                        yield content, response
                elif isinstance(content, list):  # multimodal content parts
                    for part in content:
                        if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]:
                            yield part["text"], response


def split_code(text: str) -> tuple[str, bool, bool]:
    """(prose, ends_with_code, open_fence): the text without fenced code blocks (fence lines and
    contents), whether the last non-empty line is a closing fence, and whether a fence is left open.
    A text that is a single JSON object or array is all code."""
    stripped = text.strip()
    if stripped[:1] in "{[" and stripped[-1:] in "}]":
        return "", True, False
    if "```" not in text and "~~~" not in text:
        return text, False, False
    prose: list[str] = []
    in_code = False
    last_was_fence = False
    for line in text.split("\n"):
        if line.lstrip().startswith(_FENCES):
            in_code = not in_code
            last_was_fence = True
            continue
        if not in_code:
            prose.append(line)
            if line.strip():
                last_was_fence = False
        elif line.strip():
            last_was_fence = False
    return "\n".join(prose), last_was_fence and not in_code, in_code


def looks_like_code(lines: list[str]) -> bool:
    """Unfenced code or data: the first line starts like code (def, import, SELECT, ...), or at least
    3 lines of which 60% end like code (``; { } ) ,``) or are ``key: value`` pairs."""
    if not lines:
        return False
    if _CODE_START_RE.match(lines[0]):
        return True
    if len(lines) < 3:
        return False
    code = sum(1 for line in lines if line.endswith(_CODE_ENDINGS) or _KEY_VALUE_RE.match(line))
    return code >= 0.6 * len(lines)


def _is_structure(line: str) -> bool:
    c = line[0]
    if c.isalnum() and not (c.isdigit() or (c.isascii() and line[1:2] in ".)")):
        return False
    return _STRUCTURE_RE.match(line) is not None


def ends_sentence(line: str) -> bool:
    """Whether a line ends like a sentence: a terminal mark, optionally followed by closing quotes,
    brackets, Markdown emphasis or emoji; a closing quote (C4); or a Korean sentence ending (다, 요,
    ...) without a full stop. An ellipsis is not an end."""
    i = len(line)
    quote = False
    while i > 0:
        c = line[i - 1]
        if c in _CLOSERS:
            quote = quote or c in _QUOTES
        elif not (c.isspace() or unicodedata.category(c) in _TRAILING_CATEGORIES):
            break
        i -= 1
    if i == 0:
        return quote
    last = line[i - 1]
    if last in _TERMINALS:
        return not (last == "." and line.endswith("..", 0, i))
    return quote or last in _HANGUL_ENDINGS


def _is_title(line: str) -> bool:
    long_words = [w for w in line.split() if len(w) > 3 and w[0].isalpha()]
    return bool(long_words) and sum(1 for w in long_words if w[0].isupper()) >= 0.8 * len(long_words)


def _lowercase_sentence_ratio(prose: str) -> tuple[int, int]:
    """(sentence ends followed by a lowercase word, sentence ends followed by a cased word).

    A sentence end is a token ending in ``. ! ?`` (before closing quotes or brackets) that is not an
    ellipsis, a number ("1."), an abbreviation ("etc.", "e.g.", "U.S.") or an initial ("E. coli").
    Not judged after it: one-letter words except "a" (variables: "x = 7. y = 3"), words with digits
    or inner capitals (x86, iPhone) and code (numpy.sort, print()."""
    lower = cased = 0
    for m in _SENTENCE_END_RE.finditer(prose):
        start = m.start()
        window = prose[max(0, start - 24) : start]
        if ".." in m.group(1) or not window or window[-1].isspace():
            continue
        head = window.split()[-1].lstrip(_OPENING)
        if len(head) < 2 or "." in head or head.isdigit() or head.lower() in _ABBREVIATIONS:
            continue
        nxt = m.group(2)
        if (len(nxt) == 1 and nxt not in ("a", "A")) or not nxt.isalpha() or (len(nxt) > 1 and not nxt[1:].islower()):
            continue  # a variable, a name like iPhone or x86
        if prose[m.end() : m.end() + 1] in (".", "(", "/", "_"):
            continue  # code: numpy.sort, print(
        if nxt[0].islower():
            lower += 1
        elif nxt[0].isupper():
            cased += 1
    return lower, lower + cased


def _count_stop_words(words: list[str], stop: frozenset[str], suffixes: tuple[str, ...], enough: int) -> int:
    """Stop words among ``words`` (a word, or a token ending in a listed suffix after at least one
    other character), counting up to ``enough``."""
    found = 0
    for w in words:
        if w in stop or (suffixes and len(w) > 1 and w.endswith(suffixes)):
            found += 1
            if found >= enough:
                break
    return found


def _find_duplicates(items: list[str]) -> tuple[int, int]:
    """(repeated items, their characters): second and later occurrences (Gopher / DataTrove)."""
    seen: set[str] = set()
    dup = dup_chars = 0
    for item in items:
        if item in seen:
            dup += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return dup, dup_chars


def _repeated_ngram_chars(words: list[str], n: int) -> int:
    """Characters in non-overlapping repeats of an already seen n-gram (Gopher / DataTrove)."""
    seen: set[tuple[str, ...]] = set()
    repeated = 0
    i, last = 0, len(words) - n
    while i <= last:
        gram = tuple(words[i : i + n])
        if gram in seen:
            repeated += sum(map(len, gram))
            i += n
        else:
            seen.add(gram)
            i += 1
    return repeated


@dataclass(slots=True)
class _Field:
    """One field or chat turn, split once into prose, lines and (lowercased) words."""

    text: str
    is_response: bool
    prose: str  # outside fenced code blocks (inline code kept): lines and how they end
    plain: str  # prose with inline code blanked: words, symbols, sentences
    lines: list[str]  # non-empty prose lines, stripped
    words: list[str]  # words of plain
    sentence_words: list[str]  # words of plain lines that are not list items, table rows or headings
    n_words: int  # words of the whole field, code included; a character of Chinese, Japanese, Thai is one
    no_space: bool  # mostly written in a script without spaces between words
    ends_with_code: bool
    open_fence: bool

    @staticmethod
    def of(text: str, is_response: bool) -> _Field:
        prose, ends_with_code, open_fence = split_code(text)
        plain = _INLINE_CODE_RE.sub(" ", prose) if "`" in prose else prose
        if "\n" in prose:
            lines = [s for raw in prose.split("\n") if (s := raw.strip())]
            plain_lines = lines if plain is prose else [s for raw in plain.split("\n") if (s := raw.strip())]
            words: list[str]
            sentence_words: list[str]
            if not any(map(_is_structure, plain_lines)):  # the common case: words of the whole text at once
                words = sentence_words = _words(plain.lower())
            else:
                words, sentence_words = [], []
                for line in plain_lines:
                    line_words = _words(line.lower())
                    words += line_words
                    if not _is_structure(line):
                        sentence_words += line_words
        else:
            line = prose.strip()
            lines = [line] if line else []
            words = _words(plain.lower())
            sentence_words = [] if line and _is_structure(line) else words
        if lines and looks_like_code(lines):
            prose = plain = ""
            lines, words, sentence_words, ends_with_code = [], [], [], True
        n_words = len(words) if prose is text and words else len(_words(text))
        no_space = False
        if not text.isascii():
            chars = len(_NO_SPACE_RE.findall(text))
            n_words += chars
            no_space = 2 * chars > len(text)
        return _Field(text, is_response, prose, plain, lines, words, sentence_words, n_words, no_space,
                      ends_with_code, open_fence)


class QualityFilter(Filter):
    """Drops degenerate, gibberish, repetitive, boilerplate or refusing records (Gopher, C4, FineWeb).

    See the module docstring for the rules, their defaults and from what length each applies.
    ``language`` (the job's, a BCP 47 tag) selects the stop words and word-length bounds. Any
    threshold set to ``None``, or any rule named in ``disabled_rules``, is switched off.
    """

    type = "quality"

    def __init__(
        self,
        *,
        language: str | None = "en",
        min_words: int | None = 3,
        max_words: int | None = None,
        stop_words: Iterable[str] | None = None,
        min_stop_words: int | None = 2,
        min_stop_word_ratio: float = 0.05,
        min_mean_word_length: float | None = None,
        max_mean_word_length: float | None = None,
        min_alpha_word_ratio: float | None = 0.8,
        max_symbol_word_ratio: float | None = 0.1,
        max_symbol_char_ratio: float | None = 0.5,
        max_word_chars: int | None = 50,
        max_bullet_line_ratio: float | None = 0.9,
        max_ellipsis_line_ratio: float | None = 0.3,
        max_duplicate_line_fraction: float | None = 0.3,
        max_duplicate_line_char_fraction: float | None = 0.2,
        max_duplicate_paragraph_fraction: float | None = 0.3,
        max_duplicate_paragraph_char_fraction: float | None = 0.2,
        top_ngram_char_fraction: Mapping[int, float] | None = None,
        dup_ngram_char_fraction: Mapping[int, float] | None = None,
        max_compression_ratio: float | None = 6.0,
        max_lowercase_sentence_ratio: float | None = 0.5,
        min_line_punctuation_ratio: float | None = 0.12,
        max_short_line_ratio: float | None = 0.67,
        short_line_chars: int | None = None,
        max_char_duplicate_ratio: float | None = 0.01,
        refusal_phrases: Sequence[str] | None = None,
        boilerplate_phrases: Sequence[str] | None = None,
        reject_curly_braces: bool = False,
        disabled_rules: Iterable[str] = (),
        gates: Gates | None = None,
        fields: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        off = frozenset(disabled_rules)
        unknown = sorted(off - set(RULES))
        if unknown:
            raise ValueError(f"unknown quality rule(s): {', '.join(unknown)}; known: {', '.join(RULES)}")
        if not reject_curly_braces:
            off |= {"curly_braces"}

        def on(rule: str, value: _T | None) -> _T | None:
            return None if rule in off else value

        self.disabled_rules = off
        self.profile: LanguageProfile = profile_for(language)
        profile = self.profile
        self.stop_words = profile.stop_words if stop_words is None else frozenset(_fold(w) for w in stop_words)
        self.stop_suffixes = profile.stop_suffixes if stop_words is None else ()
        self.min_words = on("too_few_words", min_words)
        self.max_words = on("too_many_words", max_words)
        self.min_stop_words = on("stop_words", min_stop_words if (self.stop_words or self.stop_suffixes) else None)
        self.min_stop_word_ratio = min_stop_word_ratio
        self._fallback_stop_words = (
            same_script_stop_words(profile) - self.stop_words if stop_words is None else frozenset()
        )
        low, high = profile.mean_word_length
        low = low if min_mean_word_length is None else min_mean_word_length
        high = high if max_mean_word_length is None else max_mean_word_length
        self.min_mean_word_length = on("mean_word_length", low)
        self.max_mean_word_length = on("mean_word_length", high)
        self.min_alpha_word_ratio = on("alpha_words", min_alpha_word_ratio)
        self.max_symbol_word_ratio = on("symbol_word_ratio", max_symbol_word_ratio)
        self.max_symbol_char_ratio = on("symbol_char_ratio", max_symbol_char_ratio)
        self.max_word_chars = on("long_word", max_word_chars)
        self._long_run_re = None if self.max_word_chars is None else re.compile(
            rf"[^\W_{NO_SPACE_CHARS}]{{{self.max_word_chars + 1},}}")
        self.max_bullet_line_ratio = on("bullet_lines", max_bullet_line_ratio)
        self.max_ellipsis_line_ratio = on("ellipsis_lines", max_ellipsis_line_ratio)
        self.max_dup_line = on("duplicate_lines", max_duplicate_line_fraction)
        self.max_dup_line_chars = on("duplicate_line_chars", max_duplicate_line_char_fraction)
        self.max_dup_para = on("duplicate_paragraphs", max_duplicate_paragraph_fraction)
        self.max_dup_para_chars = on("duplicate_paragraph_chars", max_duplicate_paragraph_char_fraction)
        top = DEFAULT_TOP_NGRAM_CHAR_FRACTION if top_ngram_char_fraction is None else top_ngram_char_fraction
        dup = DEFAULT_DUP_NGRAM_CHAR_FRACTION if dup_ngram_char_fraction is None else dup_ngram_char_fraction
        self.top_ngram = {n: v for n, v in sorted(top.items()) if f"top_{n}gram" not in off}
        self.dup_ngram = {n: v for n, v in sorted(dup.items()) if f"duplicate_{n}gram" not in off}
        self.max_compression_ratio = on("compression_ratio", max_compression_ratio)
        self.terminal_punctuation = "terminal_punctuation" not in off
        self.max_lowercase_sentence_ratio = on("lowercase_sentences", max_lowercase_sentence_ratio)
        self.min_line_punctuation_ratio = on("line_punctuation", min_line_punctuation_ratio)
        self.max_short_line_ratio = on("short_lines", max_short_line_ratio)
        self.short_line_chars = profile.short_line_chars if short_line_chars is None else short_line_chars
        self.max_char_duplicate_ratio = on("char_duplicates", max_char_duplicate_ratio)
        self.reject_curly_braces = "curly_braces" not in off
        self.gates = gates or Gates()
        refusal = () if "refusal" in off else DEFAULT_REFUSAL_PHRASES if refusal_phrases is None else refusal_phrases
        boilerplate = (
            () if "boilerplate" in off else DEFAULT_BOILERPLATE_PHRASES if boilerplate_phrases is None
            else boilerplate_phrases
        )
        self._phrases = _Phrases.build({
            "refusal": refusal,
            "boilerplate": boilerplate,
            "lorem_ipsum": () if "lorem_ipsum" in off else LOREM_IPSUM_PHRASES,
            "javascript": () if "javascript" in off else JAVASCRIPT_PHRASES,
        })
        self.fields: Sequence[str] = DEFAULT_TEXT_FIELDS if fields is None else fields
        self._word_rules = self.profile.spaces and (
            self.min_stop_words is not None
            or self.min_mean_word_length is not None
            or self.max_mean_word_length is not None
        )

    # -- record ------------------------------------------------------------------------------

    def apply(self, record: Record) -> FilterResult:
        fields = [_Field.of(text, is_response) for text, is_response in _iter_fields(record, self.fields)]
        if self.min_words is not None or self.max_words is not None:
            n_words = sum(f.n_words for f in fields)
            if self.min_words is not None and n_words < self.min_words:
                return FilterResult.drop("too_few_words")
            if self.max_words is not None and n_words > self.max_words:
                return FilterResult.drop("too_many_words")
        if not fields:
            return KEEP
        text = fields[0].text if len(fields) == 1 else "\n".join(f.text for f in fields)
        kind = self._phrases.search(text, chain.from_iterable(f.words for f in fields))
        if kind is not None:
            return FilterResult.drop(kind)
        if self.max_symbol_char_ratio is not None:
            non_space = len(text) - sum(map(text.count, (" ", "\n", "\t")))
            if non_space and count_symbols(text) > self.max_symbol_char_ratio * non_space:
                return FilterResult.drop("symbol_char_ratio")
        for f in fields:
            reason = self._field(f)
            if reason is not None:
                return FilterResult.drop(reason)
        return KEEP

    # -- one field ---------------------------------------------------------------------------

    def _field(self, f: _Field) -> str | None:
        plain, words = f.plain, f.words
        if self.reject_curly_braces and "{" in plain:
            return "curly_braces"
        n = len(words)
        ascii_text = plain.isascii()
        no_space = f.no_space or not self.profile.spaces
        g = self.gates

        if self._long_run_re is not None and words and not no_space and self._has_long_word(words):
            return "long_word"

        if self.max_symbol_word_ratio is not None and n >= g.symbol_words:
            limit = self.max_symbol_word_ratio * n
            if plain.count("...") + plain.count("…") > limit:
                return "symbol_word_ratio"
            hashes = plain.count("#")
            if hashes > limit:
                hashes -= sum(len(m) for m in _HEADING_HASHES_RE.findall(plain))
                hashes -= len(_WORD_HASH_RE.findall(plain))
                if hashes > limit:
                    return "symbol_word_ratio"

        if self._word_rules and not no_space and self._in_script(plain, ascii_text, n):
            reason = self._language_rules(plain, f.sentence_words)
            if reason is not None:
                return reason

        if self.min_alpha_word_ratio is not None and n >= g.alpha_words:
            alpha = sum(map(str.isalpha, words))
            if alpha < self.min_alpha_word_ratio * n:
                alpha += sum(1 for w in words if not w.isalpha() and any(c.isalpha() for c in w))
                if alpha < self.min_alpha_word_ratio * n:
                    return "alpha_words"

        if f.is_response:
            reason = self._sentence_rules(f.prose, f.lines, f.ends_with_code, f.open_fence)
            if reason is not None:
                return reason
        if len(f.lines) > 1:
            reason = self._line_rules(f.prose, f.lines)
            if reason is not None:
                return reason
        if not no_space and n >= g.ngram_words:
            reason = self._ngram_rules(words, len(plain))
            if reason is not None:
                return reason
        if self.max_compression_ratio is not None and f.n_words >= g.compression_words:
            raw = f.text.encode("utf-8", "surrogatepass")
            # a 4 KiB window: repetition is what it detects, and zlib.compress would set up 256 KiB
            packer = zlib.compressobj(1, zlib.DEFLATED, 12, 4)
            if len(raw) > self.max_compression_ratio * (len(packer.compress(raw)) + len(packer.flush())):
                return "compression_ratio"
        return None

    def _has_long_word(self, words: list[str]) -> bool:
        """A run of more than ``max_word_chars`` letters and digits that is not a hex digest."""
        limit = self.max_word_chars
        assert limit is not None and self._long_run_re is not None
        if max(map(len, words)) <= limit:  # words are longer than the runs inside them: the cheap test
            return False
        for w in words:
            if len(w) > limit:
                for run in self._long_run_re.findall(w):
                    if not (len(run) <= 128 and _HEX_DIGITS.issuperset(run) and len(set(run)) >= 8):
                        return True
        return False

    def _in_script(self, prose: str, ascii_text: bool, n: int) -> bool:
        """Whether most words are written in the script of the job's language."""
        script_re = self.profile.script_re
        if script_re is None:
            return True
        if ascii_text:
            return self.profile.latin
        return 2 * len(script_re.findall(prose)) >= n

    def _language_rules(self, plain: str, sentence_words: list[str]) -> str | None:
        words = sentence_words
        if _DIGIT_RE.search(plain):
            words = [w for w in words if not w[0].isdigit()]  # numbers are not words here
        n = len(words)
        if self.min_stop_words is not None and n >= self.gates.stop_words:
            enough = max(self.min_stop_words, ceil(self.min_stop_word_ratio * n))
            found = _count_stop_words(words, self.stop_words, self.stop_suffixes, enough)
            if found < enough and self._fallback_stop_words:
                # another language of the same script with a list (a translation): judge with it
                found = _count_stop_words(words, self._fallback_stop_words, (), enough)
            if found < enough:
                return "stop_words"
        low, high = self.min_mean_word_length, self.max_mean_word_length
        if (low is not None or high is not None) and n >= self.gates.mean_word_length:
            mean = sum(map(len, words)) / n
            if (low is not None and mean < low) or (high is not None and mean > high):
                return "mean_word_length"
        return None

    def _sentence_rules(self, prose: str, lines: list[str], ends_with_code: bool, open_fence: bool) -> str | None:
        if self.terminal_punctuation:
            if open_fence:
                return "terminal_punctuation"
            if not ends_with_code and not self._ends_well(lines):
                return "terminal_punctuation"
        limit = self.max_lowercase_sentence_ratio
        if limit is not None and _LOWER_START_RE.search(prose):
            lower, total = _lowercase_sentence_ratio(prose)
            if lower and lower >= limit * total:
                return "lowercase_sentences"
        return None

    def _ends_well(self, lines: list[str]) -> bool:
        """C4's terminal punctuation for the end of a response: its last line of at least
        ``terminal_line_words`` words ends a sentence. Short lines after it (a signature, the
        name under a letter) are skipped, and then it may also end with ``: , ;``; a list item,
        table row or heading at the end, or a one-line headline in Title Case, is a fine end."""
        min_words = self.gates.terminal_line_words
        for i in range(len(lines) - 1, -1, -1):
            line = lines[i]
            if _is_structure(line):
                return True
            if len(line.split()) >= min_words:
                if ends_sentence(line):
                    return True
                if i < len(lines) - 1:
                    return line.endswith((":", ",", ";"))
                return len(lines) == 1 and _is_title(line)
        return True

    def _line_rules(self, prose: str, lines: list[str]) -> str | None:
        g = self.gates
        n_lines = len(lines)
        if n_lines >= g.gopher_lines and self.max_ellipsis_line_ratio is not None:
            ending = sum(1 for s in lines if s.endswith(_ELLIPSES))
            if ending > self.max_ellipsis_line_ratio * n_lines:
                return "ellipsis_lines"
        if n_lines >= g.bullet_lines and self.max_bullet_line_ratio is not None:
            bullets = sum(1 for s in lines if s.startswith(_BULLETS))
            if bullets > self.max_bullet_line_ratio * n_lines:
                return "bullet_lines"
        if n_lines >= g.gopher_lines and (self.max_dup_line is not None or self.max_dup_line_chars is not None):
            long_lines = [s for s in lines if len(s) >= g.dup_line_chars]
            if len(long_lines) >= g.gopher_lines:
                dup, dup_chars = _find_duplicates(long_lines)
                if dup:
                    if self.max_dup_line is not None and dup > self.max_dup_line * len(long_lines):
                        return "duplicate_lines"
                    limit = self.max_dup_line_chars
                    if limit is not None and dup_chars > limit * sum(map(len, long_lines)):
                        return "duplicate_line_chars"
        if "\n\n" in prose or "\n \n" in prose:
            reason = self._paragraph_rules(prose)
            if reason is not None:
                return reason
        if n_lines >= g.fineweb_lines:
            return self._fineweb_rules(lines)
        return None

    def _paragraph_rules(self, prose: str) -> str | None:
        if self.max_dup_para is None and self.max_dup_para_chars is None:
            return None
        paragraphs = [p for s in _PARAGRAPH_SPLIT_RE.split(prose) if (p := s.strip())]
        if len(paragraphs) < self.gates.paragraphs:
            return None
        dup, dup_chars = _find_duplicates(paragraphs)
        if not dup:
            return None
        if self.max_dup_para is not None and dup > self.max_dup_para * len(paragraphs):
            return "duplicate_paragraphs"
        if self.max_dup_para_chars is not None and dup_chars > self.max_dup_para_chars * sum(map(len, paragraphs)):
            return "duplicate_paragraph_chars"
        return None

    def _fineweb_rules(self, lines: list[str]) -> str | None:
        prose_lines = [s for s in lines if not _is_structure(s)]
        n = len(prose_lines)
        if n < self.gates.fineweb_lines:
            return None
        if self.min_line_punctuation_ratio is not None:
            ending = sum(1 for s in prose_lines if s.endswith(_LINE_PUNCTUATION) or ends_sentence(s))
            if ending < self.min_line_punctuation_ratio * n:
                return "line_punctuation"
        if self.max_short_line_ratio is not None:
            short = sum(1 for s in prose_lines if len(s) <= self.short_line_chars)
            if short > self.max_short_line_ratio * n:
                return "short_lines"
        if self.max_char_duplicate_ratio is not None:
            long_lines = [s for s in prose_lines if len(s) >= self.gates.dup_line_chars]
            _, dup_chars = _find_duplicates(long_lines)
            if dup_chars > self.max_char_duplicate_ratio * sum(map(len, prose_lines)):
                return "char_duplicates"
        return None

    def _ngram_rules(self, words: list[str], text_chars: int) -> str | None:
        """Gopher's repetition rules as DataTrove measures them: the top n-gram's occurrences
        (words joined by spaces) and the repeated n-grams (joined without) over the text's length."""
        full = len(words) >= self.gates.ngram_full_words
        min_count = 2 if full else 3
        top_count = min_count
        for n, limit in self.top_ngram.items():
            if len(words) < n:
                break
            grams = Counter(zip(*(words[i:] for i in range(n)), strict=False))
            gram, top_count = grams.most_common(1)[0]
            if top_count < min_count:
                break
            if top_count * (sum(map(len, gram)) + n - 1) > limit * text_chars:
                return f"top_{n}gram"
        if not full or top_count < 2 or not self.dup_ngram:
            return None
        n0 = min(self.dup_ngram)
        if len(words) < n0 or len(set(zip(*(words[i:] for i in range(n0)), strict=False))) == len(words) - n0 + 1:
            return None
        for n, limit in self.dup_ngram.items():
            if len(words) >= n and _repeated_ngram_chars(words, n) > limit * text_chars:
                return f"duplicate_{n}gram"
        return None
