"""Document-grounded QA: a question answered only from one chunk of the task's documents.

Chunks are visited in order (each strategy ordinal takes the next one), so the corpus is covered
evenly across shards; the chunk is kept in the record as `context`.
"""

from __future__ import annotations

from typing import Any

from datafoundry.strategies.base import Slot, Strategy, question_list

TEMPLATE = """Read this passage:

<passage>
{chunk}
</passage>

Write one question that the passage answers, as a user of this domain would ask it. The question \
must make sense without the passage and must not contain its answer."""


ASK_LIST = """Read this passage:

<passage>
{chunk}
</passage>

List questions that this passage answers, each one clear without the passage."""


class DocumentQA(Strategy):
    name = "documentQA"

    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        chunks = self.ctx.inputs.chunks
        chunk = chunks[slot.ordinal % len(chunks)]
        return TEMPLATE.format(chunk=chunk.text), {"chunk": chunk.id}, {"context": chunk.text}

    def ask(self, slot: Slot, text: str, source: dict[str, Any]) -> tuple[str, str]:
        chunk = self.ctx.inputs.chunks[slot.ordinal % len(self.ctx.inputs.chunks)]
        return question_list(ASK_LIST.format(chunk=chunk.text), [])
