"""Password hashes for test users: real argon2id, at the lowest cost argon2 allows.

The server verifies them with its own `verify_password` (argon2 reads the cost from the hash),
so logging in is tested for real; only the set-up is cheap. At production cost each hash took
~0.3 s of CPU, and the `web` fixture made five per test: the biggest single share of the
suite's set-up time. Hashes the server makes itself (invitations, resets, `samplan user
set-password`) keep the production cost: `server.core.passwords` is untouched.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher

# argon2's minimum: one pass over 8 KiB, one lane.
_cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@cache
def hash_password(password: str) -> str:
    """An argon2id hash of `password`, made once per test process (the salt is shared by
    every user given that password in this process: harmless in a test database)."""
    return _cheap.hash(password)
