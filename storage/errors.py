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


# PostgreSQL cut the statement off after its statement_timeout (57014 query_canceled, also
# an operator's pg_cancel_backend) or lock_timeout (55P03): the database is there but too
# busy or blocked to answer now, which a caller treats like a database that is away.
_CUT_OFF_SQLSTATES = frozenset({"57014", "55P03"})


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database could not be reached (refused, reset, timed out) or
    cut the statement off as too slow, rather than that it refused the statement: callers
    tell the client to come back later (close code 1013, HTTP 503) instead of failing as for
    a bug.

    Drivers differ in what they raise (asyncpg's own errors, OSError from the socket, each
    wrapped by SQLAlchemy or not), so this looks down the chain of causes. SQLAlchemy is
    imported here, not at the top: `samplan --help` imports this module and no SQLAlchemy."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, OSError | PoolTimeout | InterfaceError | OperationalError):
            return True
        if type(current).__module__.startswith("asyncpg") and (
            "Connection" in type(current).__name__ or "Interface" in type(current).__name__
        ):
            return True
        if getattr(current, "sqlstate", None) in _CUT_OFF_SQLSTATES:
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False
