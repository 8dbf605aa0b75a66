"""A job's record counts summed from its shards' progress reports: the funnel the operator's status
and local mode's display show.

Generator shards contribute what they generated, their tokens and their own drops
(`generator/<reason>`); filter shards what they accepted and rejected, and in curation mode (no
generator) also what they read as `generated`. A dedup summary is cumulative over rounds, so it
replaces the sum of the rounds it covers (`from_summary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datafoundry.api.stages import Stage
from datafoundry.pipeline.contract import Progress


@dataclass
class RecordCounts:
    generated: int = 0
    accepted: int = 0
    accepted_replay: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    replay: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    parse_failures: int = 0

    def add(self, p: Progress, *, accepted: bool = True, generated: bool = True) -> None:
        """Add one report; `accepted=False` for a generator shard, `generated=False` for a filter
        shard behind a generator (the generator's report counts those records)."""
        if generated:
            self.generated += p.generated
            self.prompt_tokens += p.prompt_tokens
            self.completion_tokens += p.completion_tokens
            self.parse_failures += p.parse_failures
        if accepted:
            self.accepted += p.accepted
            self.accepted_replay += p.accepted_replay
        if accepted or p.stage == Stage.GENERATE:  # a generator's own drops (generator/<reason>)
            for name, n in p.rejected.items():
                self.rejected[name] = self.rejected.get(name, 0) + n

    def add_shard(self, p: Progress, *, curation: bool) -> None:
        """Add a generator's or a filter's report by the rule above."""
        if p.stage == Stage.GENERATE:
            self.add(p, accepted=False)
        else:
            self.add(p, generated=curation)

    def copy(self) -> RecordCounts:
        return RecordCounts(**{**self.__dict__, "rejected": dict(self.rejected)})

    @classmethod
    def from_summary(cls, p: Progress) -> RecordCounts:
        c = cls()
        c.add(p)
        return c
