"""Log-in attempt limits: a sliding window of failures per e-mail and per client address.

In memory, per process: enough to stop guessing at one node; with several nodes each keeps
its own count (a shared limit belongs to the scale-out work).
"""

from __future__ import annotations

import time
from collections import deque


class LoginThrottle:
    def __init__(
        self, per_email: int = 5, per_address: int = 20, window_seconds: float = 900
    ) -> None:
        self.per_email = per_email
        self.per_address = per_address
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        stamps = self._failures.setdefault(key, deque())
        while stamps and stamps[0] < now - self.window:
            stamps.popleft()
        return stamps

    def allowed(self, email: str, address: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return (
            len(self._recent("e:" + email, now)) < self.per_email
            and len(self._recent("a:" + address, now)) < self.per_address
        )

    def failed(self, email: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._recent("e:" + email, now).append(now)
        self._recent("a:" + address, now).append(now)

    def succeeded(self, email: str) -> None:
        self._failures.pop("e:" + email, None)
