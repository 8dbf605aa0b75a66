"""PII detection with redaction (typed placeholders) or drop.

Kinds: ``email``, ``phone`` (international ``+CC`` and common national formats, Korean ones
included), ``credit_card`` (13-19 digits, known issuer prefix, Luhn check), ``ipv4``, ``ipv6``
(validated by ``ipaddress``), ``iban`` (country length + mod-97 check), ``us_ssn`` (dashed),
``kr_rrn`` (Korean resident registration number, see below), and ``url`` (http(s):// or www.,
only when asked for: not in the default kinds). Candidates that fail their check are left alone.

Korean resident registration numbers (주민등록번호 / 외국인등록번호), ``YYMMDD-SNNNNNN``:

- the first six digits must be a real date in the century the 7th digit implies: 1/2 (Koreans)
  and 5/6 (foreigners) 1900-1999, 3/4 and 7/8 2000-2099. 9 and 0 (born 1800-1899) are not
  detected: nobody holding one is alive, and accepting them would leave the 7th digit unchecked;
- the 13th digit is a check digit only for numbers issued before October 2020; newer numbers end
  in a random digit. The checksum is therefore never required: with the dash, a valid date and
  7th digit suffice. Without the dash, 13 bare digits are too often something else (EAN-13
  barcodes start 880 in Korea, millisecond timestamps), so a valid legacy checksum *or* a
  keyword just before the number (주민, 등록번호, RRN, resident registration) is needed as well.
- Birth dates in the future are not rejected (the result must not depend on the day it runs).

Korean phone numbers: ``010-1234-5678``, ``010 1234 5678``, ``010.1234.5678``, ``02-123-4567``,
``031-123-4567``, ``(02) 1234-5678``, ``+82 10 1234 5678``, ``+82-10-1234-5678``, ``+82 (0)2 123
4567`` and, without separators, only the mobile form ``010`` + 8 digits (other bare digit runs
are too often order numbers or ids). Landlines without separators and 8-digit business numbers
(``1588-1234``) are not detected.

Boundaries: a match may not touch an ASCII letter, a digit or ``_`` (or, per kind, a dash, dot,
``+``...), but any other character may touch it: Korean particles written right after a number
(``010-1234-5678로``, ``jane@example.com으로``) or a label right before it
(``주민번호900101-1234568``) do not hide it, which ``\\b``/``\\w`` would.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from datafoundry.filters.base import KEEP, Filter, FilterResult, Record

PII_KINDS: tuple[str, ...] = ("url", "email", "iban", "credit_card", "kr_rrn", "us_ssn", "ipv6", "ipv4", "phone")
#: Kinds detected when none are named: URLs are opt-in (most are public links, not personal data).
DEFAULT_KINDS: tuple[str, ...] = tuple(k for k in PII_KINDS if k != "url")

# A match may not touch these (ASCII letters, any digit, "_"); ``\w`` would also refuse Hangul.
_WORD = r"\dA-Za-z_"

# The first group of a national phone number: a trunk prefix 0 and 1-3 digits (KR 02, 031, 010;
# UK, DE, FR, JP...), or a North American area code. Not "2024-1001-5678", an order number.
_AREA = r"(?:0\d{1,3}|[2-9]\d\d)"

# Order matters: earlier kinds win where candidates overlap (a card number is not a phone number).
_PATTERNS: dict[str, str] = {
    # First: an address or number inside a URL is part of the URL. Trailing punctuation stays text.
    "url": rf"(?<![{_WORD}@])(?:https?://|www\.)[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]}}]",
    "email": rf"(?<![{_WORD}.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    rf"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{{2,}}(?![{_WORD}-])",
    "iban": r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])",
    "credit_card": rf"(?<![{_WORD}-])\d(?:[ -]?\d){{12,18}}(?![\d-])",
    "kr_rrn": rf"(?<![{_WORD}-])\d{{6}}-?\d{{7}}(?![{_WORD}-])",
    "us_ssn": r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])",
    "ipv6": rf"(?<![{_WORD}:])(?:[0-9A-Fa-f]{{0,4}}:){{2,7}}(?:[0-9A-Fa-f]{{0,4}}|\d{{1,3}}(?:\.\d{{1,3}}){{3}})"
    rf"(?![{_WORD}:])",
    "ipv4": rf"(?<![{_WORD}.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){{3}}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    rf"(?![{_WORD}]|\.\d)",
    # international (+CC, then 2-5 groups); national with separators (US 415-555-2671, KR
    # 010-1234-5678, 02-123-4567, (02) 1234-5678...); the Korean mobile number without separators.
    "phone": rf"(?<![{_WORD}+])\+\d{{1,3}}(?:[ .-]?\(?\d{{1,4}}\)?){{2,5}}(?![{_WORD}])"
    rf"|(?<![{_WORD}.+-])(?:1[ .-])?(?:\({_AREA}\) ?|{_AREA}[ .-])\d{{3,4}}[ .-]\d{{4}}(?![{_WORD}-])"
    rf"|(?<![{_WORD}.+-])010\d{{8}}(?![{_WORD}-]|[.,]\d)",
}

_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# Every numeric kind has a run of 7+ characters of digits and separators starting and ending with a digit.
_NUMERIC_HINT = re.compile(r"\d[\d .()+/-]{5,}\d")
_CARD_PREFIX_RE = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[068]|6(?:011|5|4[4-9]|2)|35")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _valid_card(match: str) -> bool:
    digits = match.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX_RE.match(digits)) and luhn_valid(digits)


def iban_valid(candidate: str) -> bool:
    iban = candidate.replace(" ", "")
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


#: The century of a resident registration number by its 7th digit (9/0, born in the 1800s: not detected).
_RRN_CENTURY = {"1": 1900, "2": 1900, "5": 1900, "6": 1900, "3": 2000, "4": 2000, "7": 2000, "8": 2000}
_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
#: Words that, just before 13 bare digits, say they are a resident registration number.
_RRN_CONTEXT = re.compile(r"주민|등록\s*번호|(?<![a-z])rrn(?![a-z])|resident\s+registration", re.IGNORECASE)
_RRN_CONTEXT_CHARS = 32


def kr_rrn_valid(candidate: str) -> bool:
    """A real birth date (YYMMDD) in the century the 7th digit (1-8) implies. The checksum is not
    looked at: numbers issued since October 2020 have none."""
    digits = candidate.replace("-", "")
    century = _RRN_CENTURY.get(digits[6])
    if century is None or len(digits) != 13:
        return False
    try:
        datetime.date(century + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return False
    return True


def kr_rrn_checksum_valid(candidate: str) -> bool:
    """The legacy check digit (numbers issued before October 2020) holds."""
    digits = candidate.replace("-", "")
    total = sum(int(d) * w for d, w in zip(digits[:12], _RRN_WEIGHTS, strict=True))
    return (11 - total % 11) % 10 == int(digits[12])


def _kr_rrn_confident(candidate: str, text: str, start: int) -> bool:
    """Date and 7th digit valid; without the dash also a valid checksum or a keyword just before."""
    if not kr_rrn_valid(candidate):
        return False
    if "-" in candidate or kr_rrn_checksum_valid(candidate):
        return True
    return _RRN_CONTEXT.search(text, max(0, start - _RRN_CONTEXT_CHARS), start) is not None


def _valid_ssn(candidate: str) -> bool:
    area, group, serial = candidate.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _valid_ipv6(candidate: str) -> bool:
    if sum(c in "0123456789abcdefABCDEF" for c in candidate) < 2:
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _valid_phone(candidate: str) -> bool:
    return 8 <= sum(c.isdigit() for c in candidate) <= 15


class PIIDetector:
    """Finds and replaces PII in strings; one compiled alternation, validators per kind."""

    def __init__(self, kinds: Iterable[str] | None = None) -> None:
        selected = list(DEFAULT_KINDS if kinds is None else kinds)
        unknown = sorted(set(selected) - set(PII_KINDS))
        if unknown:
            raise ValueError(f"unknown PII kind(s): {', '.join(unknown)}; known: {', '.join(PII_KINDS)}")
        self.kinds = tuple(k for k in PII_KINDS if k in selected)
        self._validators: dict[str, Callable[[str], bool]] = {
            "url": lambda s: True,
            "email": lambda s: True,
            "iban": iban_valid,
            "credit_card": _valid_card,
            "us_ssn": _valid_ssn,
            "ipv6": _valid_ipv6,
            "ipv4": lambda s: True,
            "phone": _valid_phone,
        }
        self._single = {k: re.compile(_PATTERNS[k]) for k in self.kinds}
        self._combined: dict[tuple[str, ...], re.Pattern[str] | None] = {}

    def _pattern(self, text: str) -> re.Pattern[str] | None:
        """One alternation of the kinds that cheap substring tests say may occur in ``text``."""
        numeric = _NUMERIC_HINT.search(text) is not None
        active = tuple(
            k
            for k in self.kinds
            if (k == "url" and ("://" in text or "www." in text))
            or (k == "email" and "@" in text)
            or (k == "ipv6" and text.count(":") >= 2)
            or (k not in ("url", "email", "ipv6") and numeric)
        )
        if active not in self._combined:
            alternation = "|".join(f"(?P<{k}>{_PATTERNS[k]})" for k in active)
            self._combined[active] = re.compile(alternation) if active else None
        return self._combined[active]

    def _valid(self, kind: str, m: re.Match[str]) -> bool:
        if kind == "kr_rrn":  # the only check that reads the text around the candidate
            return _kr_rrn_confident(m.group(), m.string, m.start())
        return self._validators[kind](m.group())

    def _classify(self, m: re.Match[str]) -> str | None:
        """The kind of a candidate: its own if it validates, else a later kind matching the same span."""
        kind, span = m.lastgroup, m.group()
        if kind is None:
            return None
        if self._valid(kind, m):
            return kind
        for other in self.kinds[self.kinds.index(kind) + 1 :]:
            if self._single[other].fullmatch(span) and self._valid(other, m):
                return other
        return None

    def find(self, text: str) -> list[tuple[str, str]]:
        """(kind, matched text) for every validated occurrence."""
        found: list[tuple[str, str]] = []
        pattern = self._pattern(text)
        if pattern is None:
            return found
        for m in pattern.finditer(text):
            kind = self._classify(m)
            if kind is not None:
                found.append((kind, m.group()))
        return found

    def redact(self, text: str, counts: Counter[str]) -> str:
        """``text`` with each validated occurrence replaced by ``<KIND>``; adds to ``counts``."""

        def replace(m: re.Match[str]) -> str:
            kind = self._classify(m)
            if kind is None:
                return m.group()
            counts[kind] += 1
            return f"<{kind.upper()}>"

        pattern = self._pattern(text)
        return text if pattern is None else pattern.sub(replace, text)


class PIIFilter(Filter):
    """Redacts PII in every string of the record (nested too) or drops records that contain it.

    Drop reason / redaction reason: the first kind found (``email``, ``phone``...). ``stats()``
    counts occurrences per kind over all records.
    """

    type = "pii"

    def __init__(
        self,
        *,
        action: Literal["redact", "drop"] = "redact",
        kinds: Iterable[str] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if action not in ("redact", "drop"):
            raise ValueError(f"PII action must be 'redact' or 'drop', got {action!r}")
        self.action = action
        self.detector = PIIDetector(kinds)
        self.counts: Counter[str] = Counter()

    def apply(self, record: Record) -> FilterResult:
        found: Counter[str] = Counter()
        redacted = self._walk(record, found)
        if not found:
            return KEEP
        self.counts.update(found)
        reason = next(k for k in self.detector.kinds if found[k])
        if self.action == "drop":
            return FilterResult.drop(reason)
        assert isinstance(redacted, dict)
        return FilterResult.modify(redacted, reason)

    def _walk(self, value: Any, found: Counter[str]) -> Any:
        if isinstance(value, str):
            return self.detector.redact(value, found)
        if isinstance(value, dict):
            return {k: self._walk(v, found) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, found) for v in value]
        return value

    def stats(self) -> Mapping[str, int]:
        return dict(self.counts)
