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


MIN_PASSWORD_LENGTH = 10
_COMMON = frozenset(
    {
        "passord123",
        "password123",
        "1234567890",
        "qwertyuiop",
        "samplan123",
        "sommer2026",
        "vinter2026",
    }
)


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why a new password is too weak, as an i18n key (`password.error.*`), or None.

    The one strength rule for every place a password is chosen (an invitation accepted, a
    reset link, Min konto and `samplan user set-password`): at least MIN_PASSWORD_LENGTH
    characters, not one character repeated, not a well-known password, and not the person's
    e-mail address or name.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return "password.error.short"
    folded = password.casefold()
    if len(set(folded)) < 3 or folded in _COMMON:
        return "password.error.common"
    address = email.strip().casefold()
    own = (address, address.partition("@")[0], name.casefold())
    names = {folded_name.strip() for folded_name in own if folded_name}
    if any(folded == n or folded.replace(" ", "") == n.replace(" ", "") for n in names):
        return "password.error.personal"
    return None
