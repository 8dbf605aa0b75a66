"""Taxonomy coverage: topics in proportion to their weights, each topic's subtopics in turn."""

from __future__ import annotations

from typing import Any

from datafoundry.api.spec import Topic
from datafoundry.strategies.base import Slot, Strategy, StrategyContext, question_list
from datafoundry.strategies.mixing import Schedule
from datafoundry.strategies.shapes import Shape

TEMPLATE = """Write one record about this topic: {topic}{subtopic}.{description}
Make it specific to the topic{sub_hint}, not a generic example."""


class Taxonomy(Strategy):
    name = "taxonomy"

    def __init__(self, ctx: StrategyContext, shape: Shape) -> None:
        super().__init__(ctx, shape)
        topics: list[Topic] = [t for t in ctx.task.taxonomy or [] if t.weight > 0] or list(ctx.task.taxonomy or [])
        self.topics = topics
        self.schedule = Schedule([t.weight or 1 for t in topics])

    def pick(self, ordinal: int) -> tuple[Topic, str | None]:
        i, k = self.schedule.pick(ordinal)
        topic = self.topics[i]
        subs = topic.subtopics or []
        return topic, (subs[k % len(subs)] if subs else None)

    def user_message(self, slot: Slot) -> tuple[str, dict[str, Any], dict[str, Any]]:
        topic, sub = self.pick(slot.ordinal)
        text = TEMPLATE.format(
            topic=topic.name,
            subtopic=f", subtopic: {sub}" if sub else "",
            description=f"\nThe topic covers: {topic.description}" if topic.description else "",
            sub_hint=" and subtopic" if sub else "",
        )
        source: dict[str, Any] = {"topic": topic.name}
        if sub:
            source["subtopic"] = sub
        return text, source, {}

    def ask(self, slot: Slot, text: str, source: dict[str, Any]) -> tuple[str, str]:
        topic, _ = self.pick(slot.ordinal)
        about = source["topic"] + (f", {source['subtopic']}" if source.get("subtopic") else "")
        intro = f"List questions that users ask about {about} (domain: {self.ctx.task.domain})"
        if topic.description:  # what the topic covers steers the questions as it steers one-call records
            intro += f"\nThe topic covers: {topic.description}"
        return question_list(intro, [])
