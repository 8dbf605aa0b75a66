from __future__ import annotations

from collections import Counter

import pytest

from datafoundry.filters import Action, FilterChain, PIIFilter
from datafoundry.filters.pii import PIIDetector, iban_valid, kr_rrn_checksum_valid, kr_rrn_valid, luhn_valid

VALID_CARD = "4111 1111 1111 1111"  # Visa test number, Luhn-valid
INVALID_CARD = "4111 1111 1111 1112"  # one digit off: fails Luhn
VALID_IBAN = "DE89 3704 0044 0532 0130 00"
INVALID_IBAN = "DE89 3704 0044 0532 0130 01"  # mod 97 != 1
VALID_RRN = "900101-1234568"  # 1990-01-01, issued before October 2020: legacy checksum digit 8 holds
NEW_RRN = "201015-3123456"  # 2020-10-15 (7th digit 3: born 2000-2099), random last digit: no checksum
FOREIGN_RRN = "050505-7654321"  # 2005-05-05, 7th digit 7: a foreign resident born 2000-2099


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
        (f"주민등록번호 {NEW_RRN} 입니다", "주민등록번호 <KR_RRN> 입니다"),
    ],
)
def test_each_kind_is_redacted_in_place(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        f"Card {INVALID_CARD} is fake",
        f"IBAN {INVALID_IBAN} is fake",
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
    assert kr_rrn_valid(VALID_RRN) and kr_rrn_checksum_valid(VALID_RRN)
    assert kr_rrn_valid(NEW_RRN) and not kr_rrn_checksum_valid(NEW_RRN)  # valid without a checksum


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


# --------------------------------------------------------------------------------------------
# Korean: resident registration numbers of both generations, phone formats, Hangul around PII
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"제 주민등록번호는 {VALID_RRN} 입니다.", "제 주민등록번호는 <KR_RRN> 입니다."),
        (f"제 주민등록번호는 {NEW_RRN}입니다.", "제 주민등록번호는 <KR_RRN>입니다."),  # particle attached
        (f"주민번호{NEW_RRN}", "주민번호<KR_RRN>"),  # label attached
        (f"외국인등록번호: {FOREIGN_RRN} (외국인)", "외국인등록번호: <KR_RRN> (외국인)"),
        ("윤년: 000229-3123456", "윤년: <KR_RRN>"),  # 2000-02-29 exists (7th digit 3: 2000s)
        # without the dash: the legacy checksum, or a keyword right before, says it is an RRN
        ("ID 9001011234568 on file", "ID <KR_RRN> on file"),
        ("주민등록번호 2010153123456 확인", "주민등록번호 <KR_RRN> 확인"),
        ("RRN: 2010153123456", "RRN: <KR_RRN>"),
    ],
)
def test_kr_rrn_of_both_generations_is_redacted_in_korean_prose(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "번호 991332-1234567 입니다",  # month 13, day 32
        "번호 900230-1234567 입니다",  # February 30
        "번호 000229-1234567 입니다",  # 1900-02-29 (7th digit 1: 1900s) never existed
        "번호 900101-9234567 입니다",  # 7th digit 9 (born in the 1800s): not detected
        "번호 900101-0234567 입니다",  # 7th digit 0 (idem)
        "order 2010153123456 shipped",  # bare 13 digits, no checksum and no keyword: not an RRN
        "Barcode 8801234567891, timestamp 1701234567890",  # EAN-13 and ms timestamp look like dates
    ],
)
def test_kr_rrn_lookalikes_are_left_alone(text: str) -> None:
    assert PIIDetector(["kr_rrn"]).find(text) == []
    assert PIIFilter().apply({"text": text}).action is Action.KEEP


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("휴대폰 010-1234-5678로 연락주세요", "휴대폰 <PHONE>로 연락주세요"),
        ("010 1234 5678 또는 010.1234.5678", "<PHONE> 또는 <PHONE>"),
        ("01012345678로 연락주세요", "<PHONE>로 연락주세요"),
        ("연락처:01012345678", "연락처:<PHONE>"),
        ("해외에서는 +82 10 1234 5678 입니다", "해외에서는 <PHONE> 입니다"),
        ("해외에서는 +82-10-1234-5678입니다", "해외에서는 <PHONE>입니다"),
        ("서울 사무실 02-123-4567", "서울 사무실 <PHONE>"),
        ("경기 031-123-4567번으로", "경기 <PHONE>번으로"),
        ("대표 (02) 1234-5678, 팩스 (02)1234-5679", "대표 <PHONE>, 팩스 <PHONE>"),
        ("From abroad: +82 (0)2 123 4567.", "From abroad: <PHONE>."),
    ],
)
def test_korean_phone_formats_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Upgrade to version 1.32.0 before 2024-10-01.",
        "2024년 10월 1일 10:30에 배포했습니다 (2024.10.01).",
        "주문번호 2024-1001-5678 / 20241001-123456 배송 완료",
        "Order #1032456789 and serial 01012345678901 and pi 3.01012345678",
        "ISBN 978-89-1234-567-8, 가격은 1,234,567원, 사업자등록번호 123-45-67890",
        "build v2.0.10-12345678, 고객번호 0101234567",
    ],
)
def test_ordinary_numbers_in_korean_and_english_text_are_left_alone(text: str) -> None:
    assert PIIDetector().find(text) == []


def test_hangul_next_to_email_and_ip_does_not_hide_them() -> None:
    assert redact("이메일은 jane@example.com으로 보내주세요") == "이메일은 <EMAIL>으로 보내주세요"
    assert redact("서버 192.168.0.1이 다운됐습니다") == "서버 <IPV4>이 다운됐습니다"


def test_korean_record_counts_each_kind() -> None:
    f = PIIFilter()
    out = f.apply({"instruction": "고객 정보를 정리해 주세요.",
                   "output": f"이름: 홍길동, 주민등록번호: {NEW_RRN}, 휴대폰: 010-9876-5432, 이메일: hong@example.kr"})
    assert out.action is Action.MODIFY and out.record is not None
    assert out.record["output"] == "이름: 홍길동, 주민등록번호: <KR_RRN>, 휴대폰: <PHONE>, 이메일: <EMAIL>"
    assert dict(f.stats()) == {"email": 1, "kr_rrn": 1, "phone": 1}
