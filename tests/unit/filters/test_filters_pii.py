from __future__ import annotations

from collections import Counter

import pytest

from datafoundry.filters import Action, FilterChain, PIIFilter
from datafoundry.filters.pii import PIIDetector, iban_valid, kr_rrn_valid, luhn_valid

VALID_CARD = "4111 1111 1111 1111"  # Visa test number, Luhn-valid
INVALID_CARD = "4111 1111 1111 1112"  # one digit off: fails Luhn
VALID_IBAN = "DE89 3704 0044 0532 0130 00"
INVALID_IBAN = "DE89 3704 0044 0532 0130 01"  # mod 97 != 1
VALID_RRN = "900101-1234568"  # 1990-01-01, checksum digit 8
INVALID_RRN = "900101-1234569"  # wrong checksum digit


def redact(text: str) -> str:
    out = PIIFilter().apply({"text": text})
    assert out.action is Action.MODIFY, f"nothing redacted in {text!r}"
    assert out.record is not None
    return str(out.record["text"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mail me at jane.doe+news@example.co.uk today.", "Mail me at <EMAIL> today."),
        ("Call +82 10-1234-5678 now", "Call <PHONE> now"),
        ("Call +1 (415) 555-2671.", "Call <PHONE>."),
        ("Office: (555) 123-4567", "Office: <PHONE>"),
        ("Mobile 010-1234-5678", "Mobile <PHONE>"),
        ("Toll free 1-800-555-1234", "Toll free <PHONE>"),
        (f"Card {VALID_CARD} expires 12/27", "Card <CREDIT_CARD> expires 12/27"),
        ("Card 5555-5555-5555-4444", "Card <CREDIT_CARD>"),
        ("Server 192.168.10.254 is down", "Server <IPV4> is down"),
        ("Use 2001:db8::8a2e:370:7334 here", "Use <IPV6> here"),
        (f"IBAN {VALID_IBAN}.", "IBAN <IBAN>."),
        ("Pay GB82WEST12345698765432", "Pay <IBAN>"),
        ("SSN 123-45-6789", "SSN <US_SSN>"),
        (f"주민등록번호 {VALID_RRN} 입니다", "주민등록번호 <KR_RRN> 입니다"),
    ],
)
def test_each_kind_is_redacted_in_place(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        f"Card {INVALID_CARD} is fake",
        f"IBAN {INVALID_IBAN} is fake",
        f"RRN {INVALID_RRN} is fake",
        "RRN 901301-1234567 has month 13",
        "SSN 000-12-3456 is never issued",
        "Released on 2023-01-15 at 12:30:45, version 1.2.3, order #12345678, 3.14159 and 1,000,000.",
        "The ratio is 3:4 and the time 10:30.",
    ],
)
def test_invalid_candidates_and_ordinary_numbers_are_left_alone(text: str) -> None:
    result = PIIFilter().apply({"text": text})
    assert result.action is Action.KEEP


def test_check_digits() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_valid(VALID_IBAN)
    assert not iban_valid(INVALID_IBAN)
    assert not iban_valid("DE89 3704 0044 0532 0130")  # too short for DE
    assert kr_rrn_valid(VALID_RRN)
    assert not kr_rrn_valid(INVALID_RRN)
    assert kr_rrn_valid(INVALID_RRN, checksum=False)  # post-2020 numbers carry no checksum


def test_redaction_reaches_every_string_field_including_nested_messages() -> None:
    record = {
        "id": "r1",
        "score": 5,
        "instruction": "Email bob@example.com about it.",
        "messages": [
            {"role": "user", "content": "My card is 4111-1111-1111-1111"},
            {"role": "assistant", "content": "Please never share card numbers."},
        ],
        "meta": {"source": "ticket from 10.0.0.1", "tags": ["call +44 20 7946 0958"]},
    }
    f = PIIFilter()
    chain = FilterChain([f])
    out = chain.apply(record)
    assert out == {
        "id": "r1",
        "score": 5,
        "instruction": "Email <EMAIL> about it.",
        "messages": [
            {"role": "user", "content": "My card is <CREDIT_CARD>"},
            {"role": "assistant", "content": "Please never share card numbers."},
        ],
        "meta": {"source": "ticket from <IPV4>", "tags": ["call <PHONE>"]},
    }
    assert record["instruction"] == "Email bob@example.com about it."  # the input is untouched
    assert chain.funnel.modified_by["pii"] == 1
    assert dict(f.stats()) == {"email": 1, "credit_card": 1, "ipv4": 1, "phone": 1}


def test_drop_mode_drops_and_counts_kinds() -> None:
    f = PIIFilter(action="drop")
    chain = FilterChain([f])
    records = [
        {"text": "write to a@b.io"},
        {"text": "nothing to see"},
        {"text": f"RRN {VALID_RRN} and a@b.io"},
        {"text": f"card {INVALID_CARD}"},
    ]
    assert list(chain.run(records)) == [records[1], records[3]]
    assert chain.funnel.dropped_by["pii"] == {"email": 2}  # the first kind found, in priority order
    assert dict(f.stats()) == {"email": 2, "kr_rrn": 1}


def test_kind_selection() -> None:
    only_email = PIIFilter(kinds=["email"])
    assert only_email.apply({"text": "call 010-1234-5678"}).action is Action.KEEP
    assert PIIDetector(kinds=["phone"]).find("a@b.io or 010-1234-5678") == [("phone", "010-1234-5678")]
    with pytest.raises(ValueError, match="unknown PII kind"):
        PIIFilter(kinds=["passport"])
    with pytest.raises(ValueError, match="redact"):
        PIIFilter(action="mask")  # type: ignore[arg-type]


def test_urls_are_opt_in_and_swallow_the_addresses_inside_them() -> None:
    text = ("See https://10.0.0.7/u/jane@corp.example?id=4111111111111111. Or www.example.org/x, "
            "or mail jane@corp.example")
    assert "url" not in PIIDetector().kinds  # public links are not personal data by default
    counts: Counter[str] = Counter()
    out = PIIDetector(["url", "email", "ipv4", "credit_card"]).redact(text, counts)
    assert out == "See <URL>. Or <URL>, or mail <EMAIL>"
    assert counts == Counter({"url": 2, "email": 1})
    assert PIIDetector(["url"]).redact("no links here: 10.0.0.7", Counter()) == "no links here: 10.0.0.7"
