"""PII detection with redaction (typed placeholders) or drop.

Kinds: ``email``, ``phone`` (international ``+CC`` and common national formats), ``credit_card``
(13-19 digits, known issuer prefix, Luhn check), ``ipv4``, ``ipv6`` (validated by ``ipaddress``),
``iban`` (country length + mod-97 check), ``us_ssn`` (dashed), ``kr_rrn`` (Korean resident
registration number, YYMMDD-GNNNNNN with a valid date and, by default, the checksum; numbers
issued since October 2020 carry no checksum, pass ``kr_rrn_checksum=False`` to accept them), and
``url`` (http(s):// or www., only when asked for: not in the default kinds).
Candidates that fail their check are left alone.
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

# Order matters: earlier kinds win where candidates overlap (a card number is not a phone number).
_PATTERNS: dict[str, str] = {
    # First: an address or number inside a URL is part of the URL. Trailing punctuation stays text.
    "url": r"(?<![\w@])(?:https?://|www\.)[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]}]",
    "email": r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w-])",
    "iban": r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])",
    "credit_card": r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\d-])",
    "kr_rrn": r"(?<![\w-])\d{6}-?[0-9]\d{6}(?![\d-])",
    "us_ssn": r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])",
    "ipv6": r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|\d{1,3}(?:\.\d{1,3}){3})(?![\w:])",
    "ipv4": r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?![\w]|\.\d)",
    "phone": r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w])"
    r"|(?<![\w.+-])(?:1[ .-])?(?:\(\d{2,4}\) ?|\d{2,4}[ .-])\d{3,4}[ .-]\d{4}(?![\w-])",
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


def kr_rrn_valid(candidate: str, *, checksum: bool = True) -> bool:
    digits = candidate.replace("-", "")
    century = {"1": 1900, "2": 1900, "5": 1900, "6": 1900, "3": 2000, "4": 2000, "7": 2000, "8": 2000,
               "9": 1800, "0": 1800}[digits[6]]  # fmt: skip
    try:
        datetime.date(century + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return False
    if not checksum:
        return True
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    total = sum(int(d) * w for d, w in zip(digits[:12], weights, strict=True))
    return (11 - total % 11) % 10 == int(digits[12])


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

    def __init__(self, kinds: Iterable[str] | None = None, *, kr_rrn_checksum: bool = True) -> None:
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
            "kr_rrn": lambda s: kr_rrn_valid(s, checksum=kr_rrn_checksum),
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

    def _classify(self, m: re.Match[str]) -> str | None:
        """The kind of a candidate: its own if it validates, else a later kind matching the same span."""
        kind, span = m.lastgroup, m.group()
        if kind is None:
            return None
        if self._validators[kind](span):
            return kind
        for other in self.kinds[self.kinds.index(kind) + 1 :]:
            if self._single[other].fullmatch(span) and self._validators[other](span):
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
        kr_rrn_checksum: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if action not in ("redact", "drop"):
            raise ValueError(f"PII action must be 'redact' or 'drop', got {action!r}")
        self.action = action
        self.detector = PIIDetector(kinds, kr_rrn_checksum=kr_rrn_checksum)
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
