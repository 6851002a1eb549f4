"""Keeping the API key out of every output, event and log line.

fal may echo the key in an error body, and texts are cut to a length before they are shown.
So that a cut can never leave part of the key behind, the key is redacted *before* any cut
(callers redact first, then shorten), and any piece of the secret of ``FRAGMENT`` characters
or more counts as the secret itself: a text cut through the key, by anyone, still shows none
of it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

FRAGMENT = 8  # this many consecutive characters of the secret are treated as the secret
MASK = "[redacted]"


class Redactor:
    """Replaces the key, and any ``FRAGMENT``+ character piece of its secret, with ``[redacted]``.

    For a key ``id:secret`` the secret is the part after the colon (the id alone grants
    nothing); for any other key, the whole key.
    """

    def __init__(self, key: str | None) -> None:
        key = key or ""
        secret = key.partition(":")[2] or key
        # Whole texts replaced as they are (also a secret too short to have fragments).
        self.whole = tuple(sorted((s for s in {key, secret} if len(s) >= 6), key=len, reverse=True))
        self._pieces = _pieces(secret)

    def __bool__(self) -> bool:
        return bool(self.whole)

    def __call__(self, value: Any) -> Any:
        """``value`` (text, or JSON data) with the key and every piece of its secret masked."""
        if not self.whole:
            return value
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {self(k): self(v) for k, v in value.items()}
        return value

    def _text(self, text: str) -> str:
        for secret in self.whole:
            text = text.replace(secret, MASK)
        if not any(piece in text for piece in self._pieces):  # a fast scan each: most texts hold none
            return text
        spans: list[list[int]] = []
        for match in _piece_pattern(self._pieces).finditer(text):
            start, end = match.start(), match.start() + FRAGMENT
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        for start, end in reversed(spans):
            text = text[:start] + MASK + text[end:]
        return text


def _pieces(secret: str) -> tuple[str, ...]:
    """Every ``FRAGMENT``-character piece of ``secret`` (none when it is shorter)."""
    return tuple(sorted({secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}))


@functools.lru_cache(maxsize=16)
def _piece_pattern(pieces: tuple[str, ...]) -> re.Pattern[str]:
    # A lookahead finds every position where a piece starts, overlapping ones included.
    return re.compile("(?=(?:" + "|".join(map(re.escape, pieces)) + "))")
