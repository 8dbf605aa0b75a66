"""Reusable constrained field types (patterns and bounds shared by spec and status)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import Field, PlainValidator, WithJsonSchema

from datafoundry.api.rules import ValueRule

# Bounds. Every string and list in the schema is bounded: CEL rules are cost-checked by the
# API server against these bounds, and unbounded values make that estimate explode.
MAX_NAME: Final = 253  # DNS subdomain (object names, Secret keys, priority classes)
MAX_LABEL: Final = 63  # DNS label
MAX_URI: Final = 2048
MAX_TEXT: Final = 4096
MAX_LONG_TEXT: Final = 65536

#: One character of a URI or path: no space and no control character (C0, DEL, C1). Spelled out
#: rather than as "not whitespace": the API server's Go regexp, pydantic's Rust regex and Python's
#: `re` disagree on what whitespace is (vertical tab, NBSP), and all three must give the same answer.
URI_CHAR: Final = r"[^\x00-\x20\x7f-\x9f]"
#: A one-line name (a label, a topic, a field name): anything but control characters (C0, DEL, C1).
NO_CONTROL: Final = r"^[^\x00-\x1f\x7f-\x9f]*$"

DNS_LABEL: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CONFIG_KEY: Final = r"^[-._a-zA-Z0-9]+$"
#: s3://bucket[/key-or-prefix] or file://path. Every data location in the spec uses this.
DATA_URI: Final = rf"^(s3://[a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9](/{URI_CHAR}*)?|file://{URI_CHAR}+)$"
#: Hugging Face id (``org/name``), ``s3://bucket/prefix``, ``pvc://claim/path`` or an absolute path.
MODEL_REF: Final = (
    r"^([A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?"
    rf"|s3://[a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9](/{URI_CHAR}*)?"
    rf"|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/{URI_CHAR}*)?"
    rf"|/{URI_CHAR}*)$"
)
#: http(s)://host[:port][/path]: the host is a DNS name, an IPv4 address or a bracketed IPv6 address.
HTTP_URL: Final = (
    r"^https?://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?)(:[0-9]{1,5})?"
    rf"([/?#]{URI_CHAR}*)?$"
)
LANGUAGE_TAG: Final = r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$"
IMAGE_REF: Final = r"^[a-zA-Z0-9][a-zA-Z0-9._/:@-]*$"
LABEL_KEY: Final = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_VALUE: Final = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
QUANTITY: Final = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
CONDITION_REASON: Final = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
SHA256_HEX: Final = r"^[a-f0-9]{64}$"

#: A `..` path segment: refused in data URIs, so a job's objects stay under the prefix it names
#: (stores treat it differently: AWS keeps it literally, SeaweedFS refuses it, a file:// path leaves).
DOT_DOT_SEGMENT: Final = r"(^|/)[.][.](/|$)"
_DOT_DOT_RE = re.compile(DOT_DOT_SEGMENT)

DataURI = Annotated[
    str,
    Field(min_length=1, max_length=MAX_URI, pattern=DATA_URI),
    ValueRule(f"!self.matches('{DOT_DOT_SEGMENT}')", "must not contain a '..' path segment",
              lambda value: not _DOT_DOT_RE.search(value)),
]
SecretName = Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=DNS_SUBDOMAIN)]
#: An http(s) URL of a service the pods call.
HttpURL = Annotated[str, Field(max_length=MAX_URI, pattern=HTTP_URL)]
#: The name of a field of the records (a JSONL key, a Parquet column).
RecordField = Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=NO_CONTROL)]
ConfigKey = Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=CONFIG_KEY)]
LanguageTag = Annotated[str, Field(min_length=2, max_length=35, pattern=LANGUAGE_TAG)]

_QUANTITY_RE = re.compile(QUANTITY)


def _check_quantity(value: object) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and len(value) <= 64 and _QUANTITY_RE.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)")


#: A Kubernetes resource quantity (``2``, ``500m``, ``16Gi``): int-or-string in the CRD.
Quantity = Annotated[
    int | str,
    PlainValidator(_check_quantity),
    WithJsonSchema({"x-kubernetes-int-or-string": True, "pattern": QUANTITY, "maxLength": 64}),
]


#: Top-level keys at most in a seed.
MAX_FREE_FORM_KEYS: Final = 64


def _at_most_keys(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_FREE_FORM_KEYS:
        raise ValueError(f"must have at most {MAX_FREE_FORM_KEYS} keys, got {len(value)}")
    return value


#: An arbitrary JSON object kept as-is by the API server (no pruning).
FreeFormObject = Annotated[
    dict[str, Any], WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
]


def _check_seed(value: object) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        return _at_most_keys(value)
    raise ValueError("a seed must be a non-empty object, e.g. {instruction: ..., response: ...}")


#: A seed example: an object kept as-is by the API server. (Objects only: CEL cannot type a list
#: whose items may be strings or objects, so the seeds rules could not see such a list.)
SeedItem = Annotated[
    dict[str, Any],
    PlainValidator(_check_seed),
    WithJsonSchema(
        {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "maxProperties": MAX_FREE_FORM_KEYS,
            "description": "A seed example, e.g. {instruction: ..., response: ...} or {messages: [...]}.",
        }
    ),
]
