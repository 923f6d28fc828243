"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106's recommendation),
and the one rule a new password must meet (pages and the command line alike)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("the password must be at least 8 characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


MIN_LENGTH = 10


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why `password` is too weak to be set, as the i18n key of the sentence that says so
    (`account.error.*`), or None. Length is what counts (NIST SP 800-63B): at least
    MIN_LENGTH characters, not one character repeated, and not the person's own e-mail
    address or name (nor their e-mail's part before the @)."""
    if len(password) < MIN_LENGTH:
        return "account.error.password_short"
    if len(set(password)) == 1:
        return "account.error.password_repeated"
    lowered = password.strip().casefold()
    own = {email.strip().casefold(), email.partition("@")[0].strip().casefold()}
    own |= {name.strip().casefold(), "".join(name.split()).casefold()}
    if lowered in own - {""}:
        return "account.error.password_personal"
    return None
