"""Cutting documents into overlapping chunks for grounded generation."""

from __future__ import annotations

from collections.abc import Iterator


def chunk_text(text: str, size: int, overlap: int) -> Iterator[str]:
    """Chunks of at most `size` characters, consecutive ones sharing `overlap` characters.

    A chunk ends at the last whitespace in its second half when there is one, so words are not
    cut; blank chunks are skipped.
    """
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError("need size > 0 and 0 <= overlap < size")
    start, n = 0, len(text)
    while start < n:
        end = min(n, start + size)
        if end < n:
            cut = max(text.rfind(" ", start + size // 2, end), text.rfind("\n", start + size // 2, end))
            if cut > start:
                end = cut
        piece = text[start:end].strip()
        if piece:
            yield piece
        if end >= n:
            break
        start = max(end - overlap, start + 1)
