"""Slim in-memory caches of the operator's child Jobs and pods, fed by watches of their own.

A DataFoundryJob's reconcile pass reads its children from here (no API reads) and a change that
matters wakes its daemon. Like controller-runtime's informer cache with a transform: each object is
cut down to the few fields the reconciler reads as soon as it is decoded, so memory follows the
number of children, not their size (a pod with its managed fields is tens of kilobytes as Python
objects), and a restarted operator lists them a page at a time instead of holding them all.

Through kopf every child event went through its whole per-object machinery (a worker task, causes,
handler invocation, loggers) and a restart's listing was held in memory while it was processed: at a
thousand jobs (17,000 children) that was most of the operator's CPU time and memory. kopf still
handles the DataFoundryJobs themselves: their daemons, finalizers and peering.

Each resource is watched in a thread with the official client's connection pool and credentials
(list in pages, then watch from the list's resourceVersion with bookmarks; relist on 410 Gone;
reconnect with back-off for as long as it takes). Decoded objects are applied on the event loop, so
the caches and the wake-ups need no locks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from kubernetes.client import ApiException

from datafoundry.controller import kube

log = logging.getLogger(__name__)

Transform = Callable[[Mapping[str, Any]], dict[str, Any] | None]
#: Back-off between failed list/watch attempts (seconds); the last step repeats.
BACKOFF = (0.5, 1.0, 2.0, 3.0, 5.0)
WATCH_SECONDS = 300


class Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


@dataclass(frozen=True)
class Entry:
    """One child as the loop stores it: made in the watch thread, so the full object is freed
    before the loop sees it."""

    namespace: str
    name: str
    owner: str | None
    slim: dict[str, Any] | None

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name


@dataclass
class ChildStore:
    """Slim children by owner uid, then by name; only touched on the event loop."""

    owner_label: str
    transform: Transform
    by_owner: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: (namespace, name) -> owner uid, to find what a DELETED event removes.
    owner_of: dict[tuple[str, str], str] = field(default_factory=dict)

    def of(self, owner: str) -> list[dict[str, Any]]:
        return list(self.by_owner.get(owner, {}).values())

    def __contains__(self, owner: str) -> bool:
        return owner in self.by_owner

    def __len__(self) -> int:
        return len(self.owner_of)

    def entry(self, obj: Mapping[str, Any]) -> Entry:
        meta = obj.get("metadata") or {}
        owner = (meta.get("labels") or {}).get(self.owner_label)
        return Entry(meta.get("namespace", ""), meta.get("name", ""), owner,
                     self.transform(obj) if owner else None)

    def put(self, entry: Entry) -> str | None:
        """Store `entry` (a None slim drops the child); the owner uid when what is stored changed."""
        if entry.owner is None or entry.slim is None:
            return self.delete(entry)
        children = self.by_owner.setdefault(entry.owner, {})
        if children.get(entry.name) == entry.slim and self.owner_of.get(entry.key) == entry.owner:
            return None
        children[entry.name] = entry.slim
        self.owner_of[entry.key] = entry.owner
        return entry.owner

    def delete(self, entry: Entry) -> str | None:
        owner = self.owner_of.pop(entry.key, None)
        if owner is None:
            return None
        children = self.by_owner.get(owner, {})
        children.pop(entry.name, None)
        if not children:
            self.by_owner.pop(owner, None)
        return owner

    def replace(self, entries: list[Entry]) -> set[str]:
        """A full listing: the owners whose children differ from before."""
        old_by_owner = self.by_owner
        self.by_owner, self.owner_of = {}, {}
        for entry in entries:
            self.put(entry)
        return {o for o in set(old_by_owner) | set(self.by_owner) if old_by_owner.get(o) != self.by_owner.get(o)}


class Watcher:
    """Keeps one ChildStore current from one collection path (a thread; see the module docstring)."""

    def __init__(self, path: str, label_selector: str, store: ChildStore,
                 on_change: Callable[[set[str]], None], loop: asyncio.AbstractEventLoop,
                 page_size: int = 500) -> None:
        self.path, self.selector, self.store = path, label_selector, store
        self.on_change, self.loop, self.page_size = on_change, loop, page_size
        self.listed = asyncio.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"watch {path}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        if not self.stopping.is_set():
            self.loop.call_soon_threadsafe(fn, *args)

    def _run(self) -> None:
        failures = 0
        version: str | None = None
        while not self.stopping.is_set():
            try:
                if version is None:
                    version = self._list()
                    failures = 0
                version = self._watch(version)
                failures = 0
            except Gone:
                version = None
            except Exception as e:
                delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
                failures += 1
                log.log(logging.WARNING if failures > 3 else logging.DEBUG,
                        "watching %s failed (%s: %s); again in %.1fs", self.path, type(e).__name__, e, delay)
                self.stopping.wait(delay)

    def _list(self) -> str:
        items: list[Entry] = []
        cont = ""
        while True:
            query = {"labelSelector": self.selector, "limit": str(self.page_size)}
            if cont:
                query["continue"] = cont
            page = json.loads(kube.raw_request("GET", f"{self.path}?{urlencode(query)}"))
            # Slim each page before the next one is decoded: the full objects are never all in memory.
            items.extend(self.store.entry(obj) for obj in page.get("items") or [])
            cont = (page.get("metadata") or {}).get("continue") or ""
            if not cont:
                version = str((page.get("metadata") or {}).get("resourceVersion") or "")
                break
        self._call(self._apply_listing, items)
        return version

    def _apply_listing(self, items: list[Entry]) -> None:
        changed = self.store.replace(items)
        self.listed.set()
        if changed:
            self.on_change(changed)

    def _watch(self, version: str) -> str:
        query = {"labelSelector": self.selector, "watch": "1", "allowWatchBookmarks": "true",
                 "resourceVersion": version, "timeoutSeconds": str(WATCH_SECONDS)}
        for batch in self._events(f"{self.path}?{urlencode(query)}"):
            updates: list[tuple[str, Entry]] = []
            for event in batch:
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone(obj.get("message"))
                    raise RuntimeError(f"watch error: {obj.get('message')}")
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    updates.append((kind, self.store.entry(obj)))
            if updates:
                self._call(self._apply_events, updates)
        return version

    def _apply_events(self, updates: list[tuple[str, Entry]]) -> None:
        changed: set[str] = set()
        for kind, entry in updates:
            owner = self.store.delete(entry) if kind == "DELETED" else self.store.put(entry)
            if owner:
                changed.add(owner)
        if changed:
            self.on_change(changed)

    def _events(self, url: str) -> Iterator[list[dict[str, Any]]]:
        """The watch's events, in batches of what arrived together."""
        response = kube.raw_stream(url, read_timeout=WATCH_SECONDS + 30)
        try:
            if response.status == 410:
                raise Gone("resourceVersion too old")
            if response.status != 200:
                raise ApiException(status=response.status, reason=response.reason,
                                   body=response.read().decode("utf-8", "replace"))
            buffer = b""
            for chunk in response.stream(64 * 1024, decode_content=True):
                if self.stopping.is_set():
                    return
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                batch = [json.loads(line) for line in lines if line.strip()]
                if batch:
                    yield batch
        finally:
            response.release_conn()


def collection_path(group_version: str, plural: str, namespace: str | None) -> str:
    base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    return f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"


class Children:
    """The child Jobs and pods of every DataFoundryJob, by owner uid (see the module docstring)."""

    def __init__(self, owner_label: str, job: Transform, pod: Transform) -> None:
        self.owner_label = owner_label
        self.jobs = ChildStore(owner_label, job)
        self.pods = ChildStore(owner_label, pod)
        self._watchers: list[Watcher] = []

    def start(self, namespaces: tuple[str, ...], on_change: Callable[[set[str]], None]) -> None:
        """Start watching (all namespaces when `namespaces` is empty); must run on the event loop."""
        loop = asyncio.get_running_loop()
        for ns in namespaces or (None,):
            for path, store in ((collection_path("batch/v1", "jobs", ns), self.jobs),
                                (collection_path("v1", "pods", ns), self.pods)):
                watcher = Watcher(path, self.owner_label, store, on_change, loop)
                self._watchers.append(watcher)
                watcher.start()

    async def listed(self) -> None:
        """Until every watch has listed once: before that, no child is known to be missing."""
        await asyncio.gather(*(w.listed.wait() for w in self._watchers))

    def stop(self) -> None:
        for watcher in self._watchers:
            watcher.stopping.set()
        self._watchers.clear()
