"""Self-generated replay (`mix.replay.generate`): general-purpose records the generator model writes
itself, mixed into the dataset so that fine-tuning on it rehearses what the model already does.

Magpie with the domain taken out: the system turn is a general assistant's (or the spec's), the
model writes a user's request in the open user turn, then answers it under that same system turn,
without the task's domain, guidance or grounding. Samples of the model's own distribution are the
rehearsal that self-synthesized rehearsal (Huang et al. 2024) and self-generated replay studies
find as good as the original data at keeping earlier abilities. The queries are screened by
Magpie's rules; the records are instruction/response pairs whatever the task's shape, and pass
the job's filters like every generated record.
"""

from __future__ import annotations

from datafoundry.engines.base import Message
from datafoundry.records.fields import REPLAY_STRATEGY
from datafoundry.strategies.magpie import Magpie


def general_system_prompt(language: str) -> str:
    return ("You are a helpful AI assistant. "
            f"Users write to you in the language with BCP 47 tag '{language}'.")


class SelfReplay(Magpie):
    name = REPLAY_STRATEGY  # publish tags its records `_source: replay-self`

    def default_system_prompt(self) -> str:
        return general_system_prompt(self.ctx.task.language)

    def answer_system(self) -> Message:
        return {"role": "system", "content": self.system_prompt}
