from __future__ import annotations

from datetime import timedelta

import pytest

from storage.errors import AlreadyExists, InvalidValue, NotFound
from tests.storage.conftest import Store


async def test_create_and_look_up_users(store: Store) -> None:
    user = await store.users.create("  Åse.Odegard@Example.NO ", "Åse Ødegård 📚")
    assert user.email == "åse.odegard@example.no"
    assert user.name == "Åse Ødegård 📚" and user.password_hash is None
    assert user.created_at.utcoffset() == timedelta(0)

    by_email = await store.users.get_by_email("ÅSE.ODEGARD@example.no")
    assert by_email is not None and by_email.id == user.id and by_email.name == "Åse Ødegård 📚"
    assert await store.users.get_by_email("nobody@example.no") is None
    assert await store.users.get_by_email("not an address") is None
    fetched = await store.users.get(user.id)
    assert fetched is not None and fetched.email == user.email
    assert await store.users.get(999_999) is None


async def test_names_of_many_users_at_once(store: Store) -> None:
    aase = await store.users.create("aase@example.no", "Åse Ødegård")
    bjorn = await store.users.create("bjorn@example.no", "Bjørn Ærø 🌲")
    assert await store.users.names([bjorn.id, aase.id, bjorn.id, 999_999]) == {
        aase.id: "Åse Ødegård",
        bjorn.id: "Bjørn Ærø 🌲",
    }
    assert await store.users.names([]) == {}


async def test_duplicate_email_is_refused(store: Store) -> None:
    await store.users.create("kari@example.no", "Kari")
    with pytest.raises(AlreadyExists, match="already exists"):
        await store.users.create("KARI@example.no", "Kari igjen")


async def test_invalid_values(store: Store) -> None:
    with pytest.raises(InvalidValue):
        await store.users.create("no-at-sign", "Navn")
    with pytest.raises(InvalidValue):
        await store.users.create("a@b.no", "   ")


async def test_set_password_hash(store: Store) -> None:
    user = await store.users.create("ola@example.no", "Ola", password_hash="$argon2id$old")
    await store.users.set_password_hash(user.id, "$argon2id$new")
    fetched = await store.users.get(user.id)
    assert fetched is not None and fetched.password_hash == "$argon2id$new"
    await store.users.set_password_hash(user.id, None)
    fetched = await store.users.get(user.id)
    assert fetched is not None and fetched.password_hash is None
    with pytest.raises(NotFound):
        await store.users.set_password_hash(999_999, "x")


async def test_language_is_remembered_per_user(store: Store) -> None:
    aase = await store.users.create("ase@example.no", "Åse Ødegård 🌍")
    assert aase.language is None  # not chosen: bokmål
    per = await store.users.create("per@example.no", "Per Lund", language="en")
    assert per.language == "en"
    with pytest.raises(InvalidValue, match="language"):
        await store.users.create("ola@example.no", "Ola", language="sv")
    assert await store.users.get_by_email("ola@example.no") is None

    await store.users.set_language(aase.id, "en")
    await store.users.set_language(per.id, "nb")
    fetched = await store.users.get(aase.id)
    assert fetched is not None and fetched.language == "en"
    kari = await store.users.create("kari@example.no", "Kari Nilsen")
    assert await store.users.languages([aase.id, per.id, kari.id, aase.id]) == {
        aase.id: "en",
        per.id: "nb",
    }
    assert await store.users.languages([]) == {}
    with pytest.raises(InvalidValue):
        await store.users.set_language(aase.id, "nn; drop table users")
    await store.users.set_language(aase.id, None)
    assert await store.users.languages([aase.id]) == {}
    with pytest.raises(NotFound):
        await store.users.set_language(999_999, "en")
