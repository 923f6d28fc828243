"""Log-in attempt limits: a growing back-off per e-mail and per client address, never a lock.

A fixed lock-out ("five failures, then 15 minutes even for the right password") hands anyone
who knows an e-mail address the power to keep its owner out, and a per-address lock blocks a
whole school behind one NAT. So after a few free failures each further attempt on that key
must wait 1, 2, 4 ... seconds, capped at a short maximum: guessing becomes slow (one try per
`cap` seconds per account), while the person with the right password gets in after at most
that short wait. An attempt made while waiting is answered "wait N seconds" without checking
the password, so it neither counts nor reveals anything. The address key starts much later
than the account key: many people share one address, few share an account.

Unknown e-mail addresses back off exactly like known ones (no oracle on which accounts exist).
A browser that signed in to the account before (server/auth/devices.py) is counted on a key of
its own instead, so a stranger's failures never keep the owner waiting.
In memory; with several nodes each failure and success is announced (`recorded`) and every
node counts it too (server/cluster/events.py), so guessing spread over nodes waits the same.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from crdt.hooks import Hook

# Keys idle this long start over: the back-off is for bursts of guessing, not a record.
FORGET_AFTER_SECONDS = 900.0
# Past this many tracked keys, the idle ones are dropped (an attacker spraying made-up
# addresses must not grow the table without bound).
PRUNE_ABOVE = 10_000


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    def __init__(
        self,
        *,
        base_seconds: float = 1.0,
        max_seconds: float = 30.0,
        free_per_email: int = 3,
        free_per_address: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base_seconds
        self.cap = max_seconds
        self.free = {"e": free_per_email, "a": free_per_address}
        self.clock = clock
        self._failures: dict[str, _Failures] = {}
        # ("failed" | "succeeded", email, address, device) as it happened here.
        self.recorded: Hook[tuple[str, str, str, str | None]] = Hook("log-in attempt")

    def _delay(self, kind: str, failures: _Failures) -> float:
        over = failures.count - self.free[kind]
        if over < 0:
            return 0.0
        return min(self.base * float(2 ** min(over, 30)), self.cap)

    def _wait_for(self, kind: str, key: str, now: float) -> float:
        failures = self._failures.get(f"{kind}:{key}")
        if failures is None or now - failures.last > FORGET_AFTER_SECONDS:
            return 0.0
        return max(0.0, failures.last + self._delay(kind, failures) - now)

    def wait_seconds(self, email: str, address: str, device: str | None = None) -> float:
        """How long this attempt must wait before its password is checked (0: check it now).
        Never more than `max_seconds` after the last failure. From a known `device`, only
        that device's own failures for the account count."""
        now = self.clock()
        if device is not None:
            return self._wait_for("e", _on_device(email, device), now)
        return max(self._wait_for("e", email, now), self._wait_for("a", address, now))

    def failed(
        self, email: str, address: str, device: str | None = None, *, announce: bool = True
    ) -> None:
        if announce:
            self.recorded(("failed", email, address, device))
        now = self.clock()
        keys = (f"e:{_on_device(email, device)}",) if device else (f"e:{email}", f"a:{address}")
        for key in keys:
            failures = self._failures.get(key)
            if failures is None or now - failures.last > FORGET_AFTER_SECONDS:
                self._failures[key] = _Failures(1, now)
            else:
                failures.count += 1
                failures.last = now
        if len(self._failures) > PRUNE_ABOVE:
            self._prune(now)

    def succeeded(self, email: str, device: str | None = None, *, announce: bool = True) -> None:
        """The account starts over; the address keeps its count (others behind it may still
        be guessing)."""
        if announce:
            self.recorded(("succeeded", email, "", device))
        self._failures.pop(f"e:{email}", None)
        if device is not None:
            self._failures.pop(f"e:{_on_device(email, device)}", None)

    def _prune(self, now: float) -> None:
        for key in [k for k, f in self._failures.items() if now - f.last > self.cap]:
            del self._failures[key]


def _on_device(email: str, device: str) -> str:
    return f"{email}#{device}"


def whole_seconds(wait: float) -> int:
    """What the person is told to wait: rounded up, at least one second."""
    return max(1, math.ceil(wait))


class RequestLimit:
    """At most `per_key` requests per `window` seconds for each key (a typed e-mail address,
    a client address): for "Glemt passord", where each request may send an e-mail, so a
    growing wait is not enough; the caller decides whether going over is said or silent.
    In memory, per process, like the back-off above (the per-account limit is counted in the
    database: storage.repositories.accounts)."""

    def __init__(
        self,
        per_key: int,
        window: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_key = per_key
        self.window = window
        self.clock = clock
        self._seen: dict[str, list[float]] = {}

    def allow(self, key: str) -> bool:
        """Count this request; False when the key has had `per_key` in the window already
        (a refused request is not counted: the limit is not pushed further out)."""
        now = self.clock()
        recent = [t for t in self._seen.get(key, ()) if now - t < self.window]
        if len(recent) >= self.per_key:
            self._seen[key] = recent
            return False
        recent.append(now)
        self._seen[key] = recent
        if len(self._seen) > PRUNE_ABOVE:
            for stale in [k for k, ts in self._seen.items() if now - ts[-1] >= self.window]:
                del self._seen[stale]
        return True
