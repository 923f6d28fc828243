"""The exceptions repositories raise, so callers never have to catch driver errors.

Messages are written for a person at a terminal: the CLI prints `str(exc)` as is. They carry
ids, never names or text from a plan (health data must not end up in logs or tracebacks).
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class: catch this to handle any refusal from the storage layer."""


class NotFound(StorageError):
    """The plan, zone, user or row a call refers to does not exist."""


class AlreadyExists(StorageError):
    """A unique value (e-mail, zone key, demo key) is already taken."""


class Conflict(StorageError):
    """The change would break a rule that spans rows, such as one koordinator per plan."""


class InvalidValue(StorageError):
    """An argument is outside what the schema accepts (unknown role, malformed key)."""
