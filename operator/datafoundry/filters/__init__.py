"""The filter library: pure functions and classes over JSON records (no I/O, no Kubernetes).

One module per filter family; :class:`FilterChain` runs them in order and keeps the funnel.
MinHash near-dup and cross-shard exact dedup have a per-shard half (filters that observe the
accepted records) and a global half (:func:`cluster_duplicates`, :func:`cross_shard_duplicates`).
"""

from datafoundry.filters.base import KEEP, Action, Filter, FilterResult, Observer, Record, text_of, texts_of
from datafoundry.filters.chain import FilterChain, Funnel
from datafoundry.filters.decontam import ContaminationReport, DecontaminationFilter
from datafoundry.filters.exact_dedup import ExactDedupFilter, cross_shard_duplicates
from datafoundry.filters.judge import JudgeFilter, JudgeScorer
from datafoundry.filters.language import LanguageFilter
from datafoundry.filters.length import LengthFilter
from datafoundry.filters.minhash import (
    MinHasher,
    MinHashFilter,
    NearDupResult,
    ShardSignatures,
    cluster_duplicates,
)
from datafoundry.filters.pii import PIIDetector, PIIFilter
from datafoundry.filters.quality import QualityFilter
from datafoundry.filters.schema import SchemaFilter

__all__ = [
    "KEEP",
    "Action",
    "ContaminationReport",
    "DecontaminationFilter",
    "ExactDedupFilter",
    "Filter",
    "FilterChain",
    "FilterResult",
    "Funnel",
    "JudgeFilter",
    "JudgeScorer",
    "LanguageFilter",
    "LengthFilter",
    "MinHashFilter",
    "MinHasher",
    "NearDupResult",
    "Observer",
    "PIIDetector",
    "PIIFilter",
    "QualityFilter",
    "Record",
    "SchemaFilter",
    "ShardSignatures",
    "cluster_duplicates",
    "cross_shard_duplicates",
    "text_of",
    "texts_of",
]
