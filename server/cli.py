"""`samplan`: one console script for operators, scripts and tests.

Errors a user can cause (unknown e-mail, bad role, duplicate) print one clear line to
stderr and exit 2; nothing is half-written because each command is one repository call.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from server.core.clock import OSLO, today_oslo
from server.logs import install_log_privacy
from storage.choices import HANDOVER_ROLES, LANGUAGES, ROLES
from storage.errors import StorageError

if TYPE_CHECKING:  # the app's parts are imported by the commands that use them (issue 16)
    from server.core.repositories import Repositories
    from server.settings import Settings
    from storage.models import Municipality, Plan, User
    from storage.repositories.audit import AuditEvent


class CliError(Exception):
    pass


def _event(action: str, **fields: object) -> AuditEvent:
    from storage.repositories.audit import AuditEvent

    return AuditEvent(action, **fields)  # type: ignore[arg-type]


def _run(coro_fn: Callable[[Repositories, Settings], Awaitable[int]]) -> int:
    """Open the database (SQLAlchemy, the models, the repositories: most of a command's start)
    only for a command whose arguments were good."""
    import asyncio

    from server.core.repositories import Repositories
    from server.settings import Settings

    settings = Settings()

    async def go() -> int:
        repos = await Repositories.open(settings)
        try:
            return await coro_fn(repos, settings)
        finally:
            await repos.close()

    return asyncio.run(go())


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.logs import configure_logging
    from server.ops.shutdown import GracefulServer
    from server.settings import Settings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = Settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    from server.ops.stall_trace import install_from_env

    # SAMPLAN_STALL_TRACE=PATH only: which callback held the loop (bench aid). It times
    # asyncio's own handles, which uvloop does not run: a traced server runs on asyncio.
    traced = install_from_env() is not None
    trust_proxies, trusted = settings.proxy_headers()  # off unless SAMPLAN_TRUSTED_PROXIES
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ws_max_size=settings.max_frame_bytes + 64 * 1024,  # just above ours: our code answers 4413
        ws_per_message_deflate=False,  # a compression per peer per frame costs more than it saves
        log_config=None,
        lifespan="on",
        loop="asyncio" if traced or settings.event_loop == "asyncio" else "auto",
        http="auto",  # httptools where installed (a dependency): a faster HTTP parser than h11
        timeout_graceful_shutdown=5,
        proxy_headers=trust_proxies,
        forwarded_allow_ips=trusted,
    )
    GracefulServer(config).run()  # SIGTERM: stop accepting, flush, close with 1012, exit
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Also names the zones whose key the room path parser refuses (written under an older,
    looser rule): nobody can open them. They are reported, never changed: exit 0. And it moves
    the content zone's old `contributions` list into the members' own contributions where a
    member has none (issue 11; server/transfer/contributions.py)."""
    from server.transfer.contributions import adopt_stored

    async def go(repos: Repositories, settings: Settings) -> int:
        print("database is up to date")
        moved = await adopt_stored(repos)
        if moved:
            print(f"{moved} contribution(s) moved from the plan's old list to the members")
        unopenable = [
            (plan_id, kind, key, why)
            for plan_id, kind, key in await repos.plans.all_zone_keys()
            if (why := _zone_key_problem(kind, key))
        ]
        for plan_id, kind, key, why in unopenable:
            print(f"samplan migrate: plan {plan_id} {_shown(kind, key)}: {why}", file=sys.stderr)
        if unopenable:
            print(
                f"samplan migrate: {len(unopenable)} zone(s) above cannot be opened; nothing was "
                "changed. To keep one, export its plan (samplan export), correct the key "
                "wherever the file uses it, delete the plan and import the file (samplan import).",
                file=sys.stderr,
            )
        return 0

    return _run(go)


def _zone_key_problem(kind: str, key: str) -> str | None:
    """Why the socket would refuse a stored zone's room path, or None."""
    from crdt.schema import KEYED_KINDS, ZONE_KEY_RULE, is_zone_key

    if kind not in KEYED_KINDS:
        return "this kind of zone has no key" if key else None
    if not is_zone_key(key):
        return f"the key must be {ZONE_KEY_RULE}, so its room cannot be opened"
    return None


def _shown(kind: str, key: str) -> str:
    from crdt.schema import zone_name

    try:
        return zone_name(kind, key)
    except ValueError:  # a row no rule ever allowed: show its parts as they are
        return f"kind {kind!r} key {key!r}"


def cmd_demo(args: argparse.Namespace) -> int:
    from server.demo.loader import describe_demo, load_demo

    async def go(repos: Repositories, settings: Settings) -> int:
        result = await load_demo(repos)
        print(
            describe_demo(
                result, settings.resolved_secret_key(), settings.default_token_ttl_seconds, settings
            )
        )
        return 0

    return _run(go)


def cmd_user_add(args: argparse.Namespace) -> int:
    """A new account (the same password rule as the pages). `--coordinator` lets it start
    plans at once: a new municipality's first koordinator is this one command, and everything
    after it happens in the browser (README, "A new municipality")."""
    from server.core.passwords import hash_password, password_problem

    password = args.password
    if password is None and not args.no_password:
        password = (
            getpass.getpass("Passord: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
        )
    if password:
        problem = password_problem(password, email=args.email, name=args.name)
        if problem is not None:
            from server.web.i18n import translator  # Starlette comes with it: only when needed

            raise CliError(translator("en")(problem))
    password_hash = hash_password(password) if password else None

    async def go(repos: Repositories, settings: Settings) -> int:
        user = await repos.users.create(args.email, args.name, password_hash, args.language)
        if args.coordinator:
            await repos.plan_start.set_can_start_plans(user.email, True)
            await repos.audit.append(
                _event("user_change", details={"field": "can_start_plans", "value": True})
            )
        print(user.id)
        return 0

    return _run(go)


def cmd_plan_create(args: argparse.Namespace) -> int:
    from server.plans.lifecycle import parse_birth_date

    birth_date = parse_birth_date(args.birth_date, today_oslo()) if args.birth_date else None
    areas = _areas(args.area)

    from server.plans.start import PlanStart, create_plan

    if not args.title.strip() or not args.person.strip():
        raise CliError("--title and --person must not be empty")
    start = PlanStart(
        person_name=args.person.strip(),
        person_birth_date=birth_date,
        period_start=None,
        period_end=None,
        next_revision=None,
        areas=tuple(areas),
        title=args.title.strip(),
        municipality=args.municipality,
    )

    async def go(repos: Repositories, settings: Settings) -> int:
        # The operator records a plan whose consent to be made is on paper: not a draft.
        plan = await create_plan(repos, start, koordinator_user_id=None, draft=False)
        print(plan.id)
        return 0

    return _run(go)


def cmd_user_coordinator(args: argparse.Namespace) -> int:
    """`user mark-coordinator` / `unmark-coordinator`: who may start plans ("Ny plan") until
    the municipality's coordinating unit keeps that list; a koordinator of any plan may
    anyway. Unmarking takes no plan away."""
    allowed = args.action == "mark-coordinator"

    async def go(repos: Repositories, settings: Settings) -> int:
        if not await repos.plan_start.set_can_start_plans(args.email, allowed):
            raise CliError(f"no user with e-mail {args.email}")
        await repos.audit.append(
            _event("user_change", details={"field": "can_start_plans", "value": allowed})
        )
        print(f"{args.email}: {'may' if allowed else 'may no longer'} start plans")
        return 0

    return _run(go)


def cmd_municipality_add(args: argparse.Namespace) -> int:
    """A municipality (a boundary: its plans, units and KE administrators); idempotent."""

    async def go(repos: Repositories, settings: Settings) -> int:
        municipality = await repos.municipalities.ensure(args.name)
        print(municipality.id)
        return 0

    return _run(go)


async def _municipality(repos: Repositories, name: str) -> Municipality:
    municipality = await repos.municipalities.by_name(name)
    if municipality is None:
        raise CliError(f"no municipality named {name!r} (add it with `samplan municipality add`)")
    return municipality


def cmd_municipality_admin(args: argparse.Namespace) -> int:
    """`municipality add-admin` / `remove-admin`: the first KE administrator of a
    municipality comes from here; after that, KE administrators add each other in the browser."""
    adding = args.action == "add-admin"

    async def go(repos: Repositories, settings: Settings) -> int:
        municipality = await _municipality(repos, args.municipality)
        user = await repos.users.get_by_email(args.email)
        if user is None:
            raise CliError(f"no user with e-mail {args.email}")
        if adding:
            changed = await repos.municipalities.add_admin(
                municipality.id, user.id, granted_by=None
            )
        else:
            changed = await repos.municipalities.remove_admin(municipality.id, user.id)
        if changed:
            await repos.audit.append(
                _event(
                    "ke_admin_add" if adding else "ke_admin_remove",
                    details={"municipality_id": municipality.id, "user_id": user.id},
                )
            )
        state = "is" if adding else "is not"
        print(f"{args.email} {state} a KE administrator of {municipality.name}")
        return 0

    return _run(go)


def cmd_municipality_list(args: argparse.Namespace) -> int:
    async def go(repos: Repositories, settings: Settings) -> int:
        for municipality in await repos.municipalities.all():
            admins = await repos.municipalities.admins(municipality.id)
            names = ", ".join(a.email for a in admins) or "-"
            print(f"{municipality.id}\t{municipality.name}\tKE: {names}")
        return 0

    return _run(go)


def _areas(specs: Sequence[str]) -> list[tuple[str, str]]:
    """Checked before anything is written, so a bad --area leaves no plan behind."""
    from crdt.schema import AREA, ZONE_KEY_RULE, is_zone_key

    areas: list[tuple[str, str]] = []
    for spec in specs:
        key, sep, title = spec.partition("=")
        if not sep or not key or not title:
            raise CliError(f"--area must look like KEY=Title, got {spec!r}")
        if not is_zone_key(key):
            raise CliError(f"--area {key!r}: an {AREA} key must be {ZONE_KEY_RULE}")
        if any(key == known for known, _title in areas):
            raise CliError(f"--area {key!r} is given twice")
        areas.append((key, title))
    return areas


async def _existing_plan(repos: Repositories, plan_id: str) -> Plan:
    plan = await repos.plans.get_plan(plan_id)
    if plan is None:
        raise CliError(f"no plan {plan_id}")
    return plan


def cmd_plan_set(args: argparse.Namespace) -> int:
    from server.plans.lifecycle import parse_birth_date

    if args.birth_date is None and not args.clear_birth_date:
        raise CliError("nothing to set: give --birth-date YYYY-MM-DD or --clear-birth-date")
    birth_date = None if args.clear_birth_date else parse_birth_date(args.birth_date, today_oslo())

    async def go(repos: Repositories, settings: Settings) -> int:
        await _existing_plan(repos, args.plan)
        if await repos.plans.set_person_birth_date(args.plan, birth_date):
            # Who may consent follows the birth date: worth a row, but never the date itself.
            details = {"field": "person_birth_date", "set": birth_date is not None}
            await repos.audit.append(_event("plan_change", plan_id=args.plan, details=details))
        from server.core.access import consent_rule

        rule = consent_rule(birth_date)
        print(f"plan {args.plan}: birth date {'set' if birth_date else 'cleared'}; {_RULES[rule]}")
        return 0

    return _run(go)


_RULES = {  # by server.core.access.ConsentRule's values (a StrEnum: its members look these up)
    "unknown_age": "consent is given by the planeier or the verge",
    "under_16": "the person is under 16: the verge/foresatt gives consent",
    "from_16": "the person is 16 or older: the planeier gives consent (a verge may too)",
}


def cmd_plan_status(args: argparse.Namespace) -> int:
    """`plan close` / `plan reopen`: a running server's watcher makes open sockets follow."""
    status = "closed" if args.action == "close" else "active"

    async def go(repos: Repositories, settings: Settings) -> int:
        await _existing_plan(repos, args.plan)
        if not await repos.plans.set_plan_status(args.plan, status):
            state = "already closed" if status == "closed" else "not closed"
            raise CliError(f"plan {args.plan} is {state}; nothing changed")
        action = "plan_close" if status == "closed" else "plan_reopen"
        await repos.audit.append(_event(action, plan_id=args.plan))
        print(f"plan {args.plan} {'closed' if status == 'closed' else 'reopened'}")
        return 0

    return _run(go)


def cmd_plan_delete(args: argparse.Namespace) -> int:
    from server.plans.lifecycle import delete_details

    async def go(repos: Repositories, settings: Settings) -> int:
        plan = await _existing_plan(repos, args.plan)
        if not args.yes:
            raise CliError("deleting a plan cannot be undone: add --yes to confirm")
        if plan.status == "active":
            # Make it read-only first and give running servers' access watchers time to
            # notice: an edit logged after its zone is gone would fail the whole group commit
            # it is in (other plans' editors would have to reconnect).
            await repos.plans.set_plan_status(args.plan, "closed")
            await _sleep(2 * settings.access_poll_seconds + 0.5)
        rows = await repos.plans.delete_plan(args.plan)
        if rows is None:
            raise CliError(f"no plan {args.plan}")
        details = delete_details("cli", rows)
        await repos.audit.append(_event("plan_delete", plan_id=args.plan, details=details))
        await repos.plans.vacuum_plan_tables()
        print(f"plan {args.plan} deleted: {_counts(rows.counts())}")
        return 0

    return _run(go)


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {number}" for name, number in counts.items())


def cmd_purge(args: argparse.Namespace) -> int:
    from server.plans.lifecycle import purge

    async def go(repos: Repositories, settings: Settings) -> int:
        days = settings.retention_days
        items = await purge(repos, days, dry_run=args.dry_run)
        verb = "would delete" if args.dry_run else "deleted"
        for item in items:
            kept = f"; kept {item.retention_days} days" if item.municipality_set else ""
            head = f"plan {item.plan_id} (closed {item.closed_at.astimezone(OSLO):%d.%m.%Y}{kept})"
            if item.rows is None:
                print(f"{head}: skipped, reopened or gone meanwhile")
            else:
                print(f"{head}: {verb} {_counts(item.rows.counts())}")
        done = sum(1 for item in items if item.rows is not None)
        print(
            f"{done} plan(s) {verb}; closed more than {days} days ago (SAMPLAN_RETENTION_DAYS)"
            " or their municipality's own retention period"
        )
        return 0

    return _run(go)


def _new_password(args: argparse.Namespace) -> str:
    if args.password is not None:
        return str(args.password)
    return getpass.getpass("Passord: ") if sys.stdin.isatty() else sys.stdin.readline().strip()


async def _user(repos: Repositories, email: str) -> User:
    user = await repos.users.get_by_email(email)
    if user is None:
        raise CliError(f"no user with e-mail {email}")
    return user


def cmd_user_set_password(args: argparse.Namespace) -> int:
    """The same rule as the pages (server.core.passwords.password_problem); every session of
    the user ends and unused "Glemt passord" links stop working."""
    from server.core.passwords import hash_password, password_problem

    password = _new_password(args)

    async def go(repos: Repositories, settings: Settings) -> int:
        user = await _user(repos, args.email)
        problem = password_problem(password, email=user.email, name=user.name)
        if problem is not None:
            from server.web.i18n import translator  # Starlette comes with it: only when needed

            raise CliError(translator("en")(problem))
        ended = await repos.accounts.change_password(user.id, hash_password(password))
        details = {"user_id": user.id, "via": "operator", "sessions": len(ended)}
        await repos.audit.append(_event("account_password_set", details=details))
        print(f"password set for {user.email}; {len(ended)} session(s) ended")
        return 0

    return _run(go)


def cmd_user_deactivate(args: argparse.Namespace) -> int:
    """A running server closes the account's open sockets at its next access poll (the
    deactivation bumps the access version of every plan the account is in)."""

    async def go(repos: Repositories, settings: Settings) -> int:
        user = await _user(repos, args.email)
        ended = await repos.accounts.deactivate(user.id, None)
        if ended is None:
            print(f"{user.email} was deactivated already")
            return 0
        details = {"user_id": user.id, "via": "operator", "sessions": len(ended)}
        await repos.audit.append(_event("account_deactivate", details=details))
        print(f"{user.email} deactivated; {len(ended)} session(s) ended")
        return 0

    return _run(go)


def cmd_user_reactivate(args: argparse.Namespace) -> int:
    async def go(repos: Repositories, settings: Settings) -> int:
        user = await _user(repos, args.email)
        if not await repos.accounts.reactivate(user.id):
            print(f"{user.email} is active already")
            return 0
        details = {"user_id": user.id, "via": "operator"}
        await repos.audit.append(_event("account_reactivate", details=details))
        print(f"{user.email} reactivated")
        return 0

    return _run(go)


_HAND_OVER_FIRST = (
    "{email} is the koordinator of plan {plan}: hand the role over first "
    "(samplan plan handover {plan} --to EMAIL --keep-role ROLE|--leave)"
)


async def _member_of(repos: Repositories, plan_id: str, email: str) -> tuple[int, str]:
    """(user id, role) of a member, or a clear error."""
    user = await repos.users.get_by_email(email)
    member = await repos.plans.get_membership(plan_id, user.id) if user else None
    if user is None or member is None:
        raise CliError(f"{email} is not a member of plan {plan_id}")
    return user.id, member.role


def cmd_member_add(args: argparse.Namespace) -> int:
    from server.core.access import Role

    async def go(repos: Repositories, settings: Settings) -> int:
        user = await repos.users.get_by_email(args.email)
        if user is None:
            raise CliError(f"no user with e-mail {args.email}")
        before = await repos.plans.get_membership(args.plan, user.id)
        if before is not None and before.role == Role.KOORDINATOR != args.role:
            raise CliError(_HAND_OVER_FIRST.format(email=args.email, plan=args.plan))
        after = await repos.plans.add_member(args.plan, user.id, args.role, unit=args.unit)
        details: dict[str, object] = {"user_id": user.id, "role": args.role}
        if before is None:
            action = "membership_add"
        elif (before.role, before.unit) != (after.role, after.unit):
            action = "membership_change"
            details["previous_role"] = before.role
        else:
            action = ""  # nothing changed: nothing to log
        if action:  # actor None: the command line (the operator), not a user of the plan
            await repos.audit.append(_event(action, plan_id=args.plan, details=details))
        print(f"{args.email} is {args.role} in plan {args.plan}")
        return 0

    return _run(go)


def cmd_member_remove(args: argparse.Namespace) -> int:
    from server.core.access import Role

    async def go(repos: Repositories, settings: Settings) -> int:
        user = await repos.users.get_by_email(args.email)
        before = await repos.plans.get_membership(args.plan, user.id) if user else None
        if before is not None and before.role == Role.KOORDINATOR:
            raise CliError(_HAND_OVER_FIRST.format(email=args.email, plan=args.plan))
        if user is None or not await repos.plans.remove_member(args.plan, user.id):
            raise CliError(f"{args.email} is not a member of plan {args.plan}")
        details = {"user_id": user.id, "role": before.role if before else None}
        await repos.audit.append(_event("membership_remove", plan_id=args.plan, details=details))
        print(f"{args.email} removed from plan {args.plan}")
        return 0

    return _run(go)


def cmd_member_set_role(args: argparse.Namespace) -> int:
    """A member's role; a running server's watcher makes their open sockets follow. A second
    koordinator, or a koordinator demoted without a handover, is refused."""
    from server.core.access import Role

    async def go(repos: Repositories, settings: Settings) -> int:
        user_id, role = await _member_of(repos, args.plan, args.email)
        if role == Role.KOORDINATOR and args.role != role:
            raise CliError(_HAND_OVER_FIRST.format(email=args.email, plan=args.plan))
        change = await repos.members.change_member(args.plan, user_id, role=args.role)
        if change.role_changed:
            details = {"user_id": user_id, "role": args.role, "previous_role": role}
            await repos.audit.append(
                _event("membership_change", plan_id=args.plan, details=details)
            )
        print(f"{args.email} is {args.role} in plan {args.plan}")
        return 0

    return _run(go)


def cmd_member_set_contribution(args: argparse.Namespace) -> int:
    """What a member contributes (element d), as the operator writes it down: recorded as
    written by the command line (no user). '' clears it."""
    text = sys.stdin.read() if args.text == "-" else args.text

    async def go(repos: Repositories, settings: Settings) -> int:
        user_id, _ = await _member_of(repos, args.plan, args.email)
        if len(text.strip()) > 2000:
            raise CliError("the contribution is too long (at most 2000 characters)")
        change = await repos.members.change_member(args.plan, user_id, contribution=text)
        if change.contribution_changed:
            details = {"user_id": user_id, "contribution_changed": True}
            await repos.audit.append(
                _event("membership_change", plan_id=args.plan, details=details)
            )
        done = "set" if text.strip() else "cleared"
        print(f"contribution of {args.email} in plan {args.plan} {done}")
        return 0

    return _run(go)


def cmd_plan_handover(args: argparse.Namespace) -> int:
    """Hand the koordinator role to another member in one transaction; the old koordinator
    keeps the role given with --keep-role, or leaves with --leave."""
    from server.core.access import Role

    async def go(repos: Repositories, settings: Settings) -> int:
        await _existing_plan(repos, args.plan)
        current = [
            m for m in await repos.plans.list_members(args.plan) if m.role == Role.KOORDINATOR
        ]
        if not current:
            raise CliError(f"plan {args.plan} has no koordinator: add one with samplan member add")
        new_id, _ = await _member_of(repos, args.plan, args.to)
        old_id = current[0].user_id
        await repos.members.hand_over(
            args.plan, old_id, new_id, None if args.leave else args.keep_role
        )
        then = "leave" if args.leave else args.keep_role
        details = {"from_user_id": old_id, "to_user_id": new_id, "old_role": then}
        await repos.audit.append(_event("koordinator_handover", plan_id=args.plan, details=details))
        print(f"{args.to} is now the koordinator of plan {args.plan}")
        return 0

    return _run(go)


async def _consent_giver(
    repos: Repositories, plan_id: str, email: str | None, option: str = "--given-by"
) -> int | None:
    """The member recorded as giving (or withdrawing) consent, checked against the age rule
    (server.core.access.may_give_consent). Without --given-by the command line records it as the
    operator (say, from a signed paper form), as before: no user, no age check."""
    from server.core.access import Role, may_give_consent

    if email is None:
        return None
    plan = await _existing_plan(repos, plan_id)
    user = await repos.users.get_by_email(email)
    member = await repos.plans.get_membership(plan_id, user.id) if user else None
    if user is None or member is None:
        raise CliError(f"{option}: {email} is not a member of plan {plan_id}")
    if not may_give_consent(member.role, plan.person_birth_date):
        if member.role == Role.PLANEIER:
            raise CliError(
                f"{option}: the person is under 16, so the verge/foresatt gives consent, "
                f"not {email}"
            )
        raise CliError(
            f"{option}: only the planeier or the verge gives consent ({email} is {member.role})"
        )
    return user.id


def cmd_consent_give(args: argparse.Namespace) -> int:
    from crdt.schema import zone_name

    async def go(repos: Repositories, settings: Settings) -> int:
        user = await repos.users.get_by_email(args.email)
        member = await repos.plans.get_membership(args.plan, user.id) if user else None
        if user is None or member is None:
            raise CliError(f"{args.email} is not a member of plan {args.plan}")
        scope = [s.strip() for s in args.scope.split(",") if s.strip()]
        known = {zone_name(z.kind, z.key) for z in await repos.plans.list_zones(args.plan)}
        unknown = [s for s in scope if s != "all" and s not in known]
        if not scope or unknown:
            raise CliError(f"--scope: unknown zone(s) {', '.join(unknown) or '(none given)'}")
        try:
            until = date.fromisoformat(args.until) if args.until else None
        except ValueError as exc:
            raise CliError(f"--until must be YYYY-MM-DD, got {args.until!r}") from exc
        giver = await _consent_giver(repos, args.plan, args.given_by)
        record = await repos.consents.give(
            args.plan, user.id, "all" if "all" in scope else scope, until, giver
        )
        details = {
            "user_id": user.id,
            "scope": "all" if record.scope is None else list(record.scope),
            "valid_until": until.isoformat() if until else None,
        }
        await repos.audit.append(_event("consent_give", plan_id=args.plan, details=details))
        print(f"consent given for {args.email} in plan {args.plan}")
        return 0

    return _run(go)


def cmd_consent_revoke(args: argparse.Namespace) -> int:
    async def go(repos: Repositories, settings: Settings) -> int:
        giver = await _consent_giver(repos, args.plan, args.given_by)
        user = await repos.users.get_by_email(args.email)
        revoked = await repos.consents.revoke(args.plan, user.id, giver) if user else None
        if user is None or revoked is None:
            raise CliError(f"{args.email} has no current consent in plan {args.plan}")
        details = {
            "user_id": user.id,
            "scope": "all" if revoked.scope is None else list(revoked.scope),
            "valid_until": revoked.valid_until.isoformat() if revoked.valid_until else None,
        }
        await repos.audit.append(_event("consent_revoke", plan_id=args.plan, details=details))
        print(f"consent revoked for {args.email} in plan {args.plan}")
        return 0

    return _run(go)


def cmd_token(args: argparse.Namespace) -> int:
    from server.core.tokens import issue_plan_token

    async def go(repos: Repositories, settings: Settings) -> int:
        user = await repos.users.get_by_email(args.user)
        if user is None:
            raise CliError(f"no user with e-mail {args.user}")
        if await repos.plans.get_membership(args.plan, user.id) is None:
            raise CliError(f"{args.user} is not a member of plan {args.plan}")
        ttl = args.ttl or settings.default_token_ttl_seconds
        print(issue_plan_token(settings.resolved_secret_key(), user.id, args.plan, ttl))
        return 0

    return _run(go)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    async def go(repos: Repositories, settings: Settings) -> int:
        result = await repos.audit.verify()
        if result.ok:
            print(f"OK: {result.rows_checked} rows")
            return 0
        print(f"BROKEN at row {result.first_broken_id}: {result.problem}")
        print(f"({result.rows_checked} rows before it are intact)")
        return 1

    return _run(go)


def cmd_audit_show(args: argparse.Namespace) -> int:
    oslo = OSLO

    async def go(repos: Repositories, settings: Settings) -> int:
        entries = await repos.audit.for_plan(args.plan, limit=args.limit, action=args.action)
        # A deleted plan's log is still shown: that is why deletion keeps it.
        if not entries and await repos.plans.get_plan(args.plan) is None:
            logged = await repos.audit.for_plan(args.plan, limit=1)
            if not logged:
                raise CliError(f"no plan {args.plan}, and no access-log rows for it")
        names: dict[int, str] = {}
        for entry in entries:
            uid = entry.actor_user_id
            if uid is not None and uid not in names:
                user = await repos.users.get(uid)
                names[uid] = user.name if user else f"(user {uid})"
        rows = [("Tid", "Handling", "Hvem", "Rolle", "Sone", "Adresse", "Detaljer")]
        for entry in reversed(entries):  # oldest first, like a log
            uid = entry.actor_user_id
            rows.append(
                (
                    entry.at.astimezone(oslo).strftime("%d.%m.%Y %H:%M:%S"),
                    entry.action,
                    names[uid] if uid is not None else "system/cli",
                    entry.role or "",
                    entry.zone or "",
                    entry.client_address or "",
                    "" if entry.details in ("", "{}") else entry.details,
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            print("  ".join([*cells, row[-1]]).rstrip())
        if not entries:
            print("(ingen hendelser)")
        return 0

    return _run(go)


def cmd_export(args: argparse.Namespace) -> int:
    from server.transfer.export import build_export, dumps

    async def go(repos: Repositories, settings: Settings) -> int:
        # no live rooms here: storage; signed as this installation's (server/core/seals.py)
        document = await build_export(repos, args.plan, secret_key=settings.resolved_secret_key())
        if document is None:
            raise CliError(f"no plan {args.plan}")
        text = dumps(document)
        if args.out:
            _write_private(args.out, text)
        else:
            sys.stdout.write(text)
        # actor None: the command line (the operator), not a user of the plan
        details = {"format": "json", "via": "cli"}
        await repos.audit.append(_event("export", plan_id=args.plan, details=details))
        if args.out:
            print(f"plan {args.plan} exported to {args.out}", file=sys.stderr)
        return 0

    return _run(go)


def cmd_plan_move_out(args: argparse.Namespace) -> int:
    """The person moved to a municipality on another installation: record the move with
    their consent (plan_moves), close the plan here, and write the file `samplan import
    --municipality` reads there (the plan, its history and its access log). Nothing is
    recorded without the file, and no file is left without the record."""
    from server.core.identity import dotted_initials
    from server.transfer.export import build_export, dumps
    from server.transfer.moving import METHODS, consent_date, move_json
    from storage.repositories.moves import MoveConsent

    async def go(repos: Repositories, settings: Settings) -> int:
        plan = await _existing_plan(repos, args.plan)
        if plan.status != "active":
            raise CliError(f"plan {plan.id} is closed: a closed plan is not moved")
        to_name = " ".join(args.to.split())
        if not to_name:
            raise CliError("--to: name the receiving municipality")
        method = METHODS.get(args.consent_how.strip().lower())
        if method is None:
            raise CliError("--consent-how: muntlig, skriftlig or nettleser")
        try:
            given_on = consent_date(args.consent_date, today_oslo())
        except ValueError as exc:
            raise CliError(f"--consent-date: {exc}") from None
        giver_id = await _consent_giver(repos, plan.id, args.consent_giver, "--consent-giver")
        assert giver_id is not None
        giver = await repos.users.get(giver_id)
        member = await repos.plans.get_membership(plan.id, giver_id)
        assert giver is not None and member is not None
        recorded_by = None
        if args.by:
            ke = await _user(repos, args.by)
            if not await repos.municipalities.administers(ke.id, plan.municipality_id):
                raise CliError(f"--by: {args.by} administers no KE of the plan's municipality")
            recorded_by = ke.id
        consent = MoveConsent(member.role, giver.name, method, given_on, giver.id)
        sending = await repos.municipalities.get(plan.municipality_id)
        assert sending is not None
        document = await build_export(
            repos, plan.id, secret_key=settings.resolved_secret_key(), access_log=True
        )
        assert document is not None
        document["move"] = move_json(sending.name, to_name, consent, datetime.now(UTC))
        _write_private(args.out, dumps(document))
        try:
            move = await repos.moves.record_export(
                plan.id,
                plan.municipality_id,
                to_name,
                consent,
                initials=dotted_initials(plan.person_name),
                recorded_by=recorded_by,
            )
        except StorageError as exc:
            os.unlink(args.out)
            raise CliError(f"not moved ({exc}); the file is removed") from None
        details = {
            "via": "cli",
            "municipality_id": plan.municipality_id,
            "move_id": move.id,
            "consent_giver": consent.giver,
            "consent_method": consent.method,
            "consent_given_on": given_on.isoformat(),
            "access_log_rows": len(document["access_log"]),
        }
        await repos.audit.append(
            _event("plan_move_out", actor_user_id=recorded_by, plan_id=plan.id, details=details)
        )
        print(
            f"plan {plan.id} moved out to {to_name}: closed here, written to {args.out} "
            f"({len(document['access_log'])} access-log rows); import it there with "
            f"`samplan import --municipality NAME {args.out}`"
        )
        return 0

    return _run(go)


def _write_private(path: str, text: str) -> None:
    """The export holds health data: readable by its owner only (0600), written whole."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def cmd_import(args: argparse.Namespace) -> int:
    """Exit 1 with one line on stderr for anything wrong with the file; nothing is written."""
    from server.transfer.importer import ImportRefused, import_plan, parse_export
    from server.transfer.moving import parse_moved, placed_in, restore_access_log

    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else _read_file(args.file)
        parsed = parse_export(raw)
        moved = parse_moved(json.loads(raw), parsed)
    except ImportRefused as exc:
        print(f"samplan import: {exc}", file=sys.stderr)
        return 1

    async def go(repos: Repositories, settings: Settings) -> int:
        nonlocal parsed
        receiving = None
        if moved is not None and args.municipality is None:
            print(
                f"samplan import: this plan moved from {moved.from_name} to {moved.to_name}: "
                "name the receiving municipality here with --municipality",
                file=sys.stderr,
            )
            return 1
        if args.municipality is not None:
            # The receiving municipality must exist here: a typo makes no new one.
            receiving = await _municipality(repos, " ".join(args.municipality.split()))
            parsed = placed_in(parsed, receiving.name)
        try:
            result = await import_plan(repos, parsed, settings.resolved_secret_key())
        except (ImportRefused, StorageError) as exc:
            print(f"samplan import: {exc}", file=sys.stderr)
            return 1
        plan_id = parsed.plan.id
        details: dict[str, object] = {
            "via": "cli",
            "users_created": result.users_created,
            "users_reused": result.users_reused,
        }
        if moved is not None:
            rows = await restore_access_log(repos, plan_id, moved.access_log, result.user_ids)
            details |= {"access_log_rows": rows, "moved_from": moved.from_name}
            if receiving is not None:
                from server.core.identity import dotted_initials

                await repos.moves.record_import(
                    plan_id,
                    receiving.id,
                    moved.from_name,
                    moved.consent,
                    initials=dotted_initials(parsed.plan.person_name),
                )
                details["municipality_id"] = receiving.id
        await repos.audit.append(_event("import", plan_id=plan_id, details=details))
        print(
            f"imported plan {plan_id}: {len(parsed.plan.zones)} zones, "
            f"{len(parsed.plan.members)} members ({result.users_created} users created, "
            f"{result.users_reused} found by e-mail), {len(parsed.plan.meetings)} meetings, "
            f"{len(parsed.plan.published_minutes)} published minutes"
        )
        return 0

    return _run(go)


def _read_file(path: str) -> bytes:
    from server.transfer.importer import ImportRefused

    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ImportRefused(f"cannot read {path}: {exc.strerror}") from None


def _sqlite_database(settings: Settings, command: str) -> Path:
    from storage.db.sqlite_file import sqlite_file

    database = sqlite_file(settings.resolved_database_url())
    if database is None:
        raise CliError(
            f"{command} is for the SQLite default; back up PostgreSQL with its own tools "
            "(pg_dump, or the provider's snapshots: docs/deploy.md)"
        )
    return database


def cmd_backup(args: argparse.Namespace) -> int:
    """An online, consistent copy of the SQLite database while the server goes on serving
    (storage/db/sqlite_file.py). The copy holds health data: it is written with mode 0600."""
    from server.settings import Settings
    from storage.db.sqlite_file import backup
    from storage.migrate import known_revision

    database = _sqlite_database(Settings(), "samplan backup")
    facts = backup(database, Path(args.path), known_revision)
    print(
        f"backup written: {facts.path} ({facts.plans} plans, schema {facts.revision}, "
        f"{facts.size_bytes} bytes)"
    )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Make a backup the database. Refuses while a server serves it; keeps the database that
    was there beside it. A backup from an older Samplan is migrated when the server starts."""
    from server.settings import Settings
    from storage.db.sqlite_file import restore
    from storage.migrate import head_revision, known_revision

    database = _sqlite_database(Settings(), "samplan restore")
    result = restore(Path(args.path), database, known_revision)
    facts = result.restored
    print(f"restored {facts.path} into {database} ({facts.plans} plans, schema {facts.revision})")
    if result.previous is not None:
        print(f"the database that was there is kept as {result.previous}")
    if facts.revision != head_revision():
        print("its schema is older than this Samplan's: `samplan migrate` (or serve) upgrades it")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run bench/run.py from the source tree (the benchmark is not part of the package);
    `samplan bench ke-overview ...` runs bench/ke_overview.py (the KE overview at 5,000 plans).

    It replaces this process rather than running as a child: a child's Ctrl-C would end
    here in `subprocess.call`, which kills it after a quarter second, before it has stopped
    its servers and dropped its databases."""
    rest = [a for a in args.bench_args if a != "--"]
    name = "run.py"
    if rest[:1] == ["ke-overview"]:
        name, rest = "ke_overview.py", rest[1:]
    script = Path(__file__).resolve().parent.parent / "bench" / name
    if not script.exists():
        raise CliError("the benchmark ships with the source tree: run it from a checkout")
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, str(script), *rest])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="samplan", description="Samplan: the living individuell plan"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser("demo", help="load the demo plan (idempotent)").set_defaults(func=cmd_demo)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    user_add = user.add_parser("add", help="add a user (password from --password or stdin)")
    user_add.add_argument("--email", required=True)
    user_add.add_argument("--name", required=True)
    user_add.add_argument("--password")
    user_add.add_argument("--no-password", action="store_true", help="token/OIDC-only user")
    user_add.add_argument(
        "--language",
        choices=LANGUAGES,
        help="their language for pages and e-mail (default: not chosen, bokmål)",
    )
    user_add.add_argument(
        "--coordinator", action="store_true", help="may start plans (as `mark-coordinator`)"
    )
    user_add.set_defaults(func=cmd_user_add)
    user_password = user.add_parser(
        "set-password",
        help="set a user's password (from --password or stdin); ends their sessions",
    )
    user_password.add_argument("email", metavar="EMAIL")
    user_password.add_argument("--password")
    user_password.set_defaults(func=cmd_user_set_password)
    user_off = user.add_parser(
        "deactivate", help="deactivate an account: no log-in, sessions and sockets end"
    )
    user_off.add_argument("email", metavar="EMAIL")
    user_off.set_defaults(func=cmd_user_deactivate)
    user_on = user.add_parser("reactivate", help="let a deactivated account log in again")
    user_on.add_argument("email", metavar="EMAIL")
    user_on.set_defaults(func=cmd_user_reactivate)
    for name, help_text in (
        ("mark-coordinator", "let a user start plans (Ny plan)"),
        ("unmark-coordinator", "take back `mark-coordinator` (plans already started stay)"),
    ):
        marked = user.add_parser(name, help=help_text)
        marked.add_argument("email", metavar="EMAIL")
        marked.set_defaults(func=cmd_user_coordinator)

    municipality = sub.add_parser(
        "municipality", help="municipalities and their KE administrators"
    ).add_subparsers(dest="action", required=True)
    municipality_add = municipality.add_parser("add", help="add a municipality; prints its id")
    municipality_add.add_argument("name", metavar="NAME")
    municipality_add.set_defaults(func=cmd_municipality_add)
    municipality.add_parser("list", help="municipalities and their KE admins").set_defaults(
        func=cmd_municipality_list
    )
    for name, help_text in (
        ("add-admin", "make a user a KE administrator of a municipality"),
        ("remove-admin", "take a user's KE administration of a municipality away"),
    ):
        admin = municipality.add_parser(name, help=help_text)
        admin.add_argument("--municipality", required=True, metavar="NAME")
        admin.add_argument("--email", required=True, metavar="EMAIL")
        admin.set_defaults(func=cmd_municipality_admin)

    plan = sub.add_parser("plan", help="manage plans").add_subparsers(dest="action", required=True)
    plan_create = plan.add_parser("create", help="create a plan; prints its id")
    plan_create.add_argument("--title", required=True)
    plan_create.add_argument("--person", required=True, help="the plan owner's name")
    plan_create.add_argument("--municipality", default="Eksempelvik kommune")
    plan_create.add_argument("--area", action="append", default=[], metavar="KEY=Title")
    plan_create.add_argument(
        "--birth-date", metavar="YYYY-MM-DD", help="the person's; decides who gives consent"
    )
    plan_create.set_defaults(func=cmd_plan_create)
    plan_set = plan.add_parser("set", help="change a plan's details")
    plan_set.add_argument("plan", metavar="PLAN_ID")
    birth = plan_set.add_mutually_exclusive_group()
    birth.add_argument("--birth-date", metavar="YYYY-MM-DD", help="the person's birth date")
    birth.add_argument("--clear-birth-date", action="store_true", help="forget the birth date")
    plan_set.set_defaults(func=cmd_plan_set)
    for name, help_text in (
        ("close", "close a plan: read-only for everyone, still readable and exportable"),
        ("reopen", "reopen a closed plan"),
    ):
        status = plan.add_parser(name, help=help_text)
        status.add_argument("plan", metavar="PLAN_ID")
        status.set_defaults(func=cmd_plan_status)
    plan_delete = plan.add_parser(
        "delete", help="delete a plan and everything in it (the access log stays)"
    )
    plan_delete.add_argument("plan", metavar="PLAN_ID")
    plan_delete.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    plan_delete.set_defaults(func=cmd_plan_delete)
    handover = plan.add_parser(
        "handover", help="hand the koordinator role to another member (one step, logged)"
    )
    handover.add_argument("plan", metavar="PLAN_ID")
    handover.add_argument("--to", required=True, metavar="EMAIL", help="the new koordinator")
    then = handover.add_mutually_exclusive_group(required=True)
    then.add_argument(
        "--keep-role", choices=list(HANDOVER_ROLES), help="the old koordinator's new role"
    )
    then.add_argument("--leave", action="store_true", help="the old koordinator leaves the plan")
    handover.set_defaults(func=cmd_plan_handover)
    move_out = plan.add_parser(
        "move-out",
        help="the person moved to a municipality on another installation: record the move "
        "with their consent, close the plan here and write the file to import there",
    )
    move_out.add_argument("plan", metavar="PLAN_ID")
    move_out.add_argument("--to", required=True, metavar="MUNICIPALITY", help="where it goes")
    move_out.add_argument(
        "--consent-giver", required=True, metavar="EMAIL", help="the planeier or verge"
    )
    move_out.add_argument(
        "--consent-how", required=True, metavar="HOW", help="muntlig, skriftlig or nettleser"
    )
    move_out.add_argument("--consent-date", required=True, metavar="YYYY-MM-DD")
    move_out.add_argument("--out", required=True, metavar="FILE", help="the file (mode 0600)")
    move_out.add_argument("--by", metavar="EMAIL", help="the KE administrator recording it")
    move_out.set_defaults(func=cmd_plan_move_out)

    member = sub.add_parser("member", help="manage members").add_subparsers(
        dest="action", required=True
    )
    member_add = member.add_parser("add", help="add a member or change their role")
    member_add.add_argument("--plan", required=True)
    member_add.add_argument("--email", required=True)
    member_add.add_argument("--role", required=True, choices=list(ROLES))
    member_add.add_argument("--unit")
    member_add.set_defaults(func=cmd_member_add)
    member_remove = member.add_parser("remove", help="remove a member")
    member_remove.add_argument("--plan", required=True)
    member_remove.add_argument("--email", required=True)
    member_remove.set_defaults(func=cmd_member_remove)
    member_role = member.add_parser(
        "set-role", help="change a member's role (the koordinator's: see plan handover)"
    )
    member_role.add_argument("--plan", required=True)
    member_role.add_argument("--email", required=True)
    member_role.add_argument("--role", required=True, choices=list(ROLES))
    member_role.set_defaults(func=cmd_member_set_role)
    member_contribution = member.add_parser(
        "set-contribution", help="what a member contributes to the plan ('' clears it)"
    )
    member_contribution.add_argument("--plan", required=True)
    member_contribution.add_argument("--email", required=True)
    member_contribution.add_argument("--text", required=True, help="the text, or - for stdin")
    member_contribution.set_defaults(func=cmd_member_set_contribution)

    consent = sub.add_parser("consent", help="a member's consent").add_subparsers(
        dest="action", required=True
    )
    consent_give = consent.add_parser("give", help="give (or replace) a member's consent")
    consent_give.add_argument("--plan", required=True)
    consent_give.add_argument("--email", required=True)
    consent_give.add_argument(
        "--scope", required=True, help="comma-separated zones (content,area/skole) or 'all'"
    )
    consent_give.add_argument("--until", metavar="YYYY-MM-DD")
    consent_revoke = consent.add_parser("revoke", help="revoke a member's consent")
    consent_revoke.add_argument("--plan", required=True)
    consent_revoke.add_argument("--email", required=True)
    for command in (consent_give, consent_revoke):
        command.add_argument(
            "--given-by",
            metavar="EMAIL",
            help="the planeier or verge who decided (checked against the person's age); "
            "without it the operator records it",
        )
    consent_give.set_defaults(func=cmd_consent_give)
    consent_revoke.set_defaults(func=cmd_consent_revoke)

    token = sub.add_parser("token", help="print a token that opens one plan for one user")
    token.add_argument("--user", required=True, metavar="EMAIL")
    token.add_argument("--plan", required=True, metavar="PLAN_ID")
    token.add_argument("--ttl", type=int, metavar="SECONDS")
    token.set_defaults(func=cmd_token)

    audit = sub.add_parser("audit", help="the access log").add_subparsers(
        dest="action", required=True
    )
    audit.add_parser(
        "verify", help="check the hash chain; exit 1 naming the first broken row"
    ).set_defaults(func=cmd_audit_verify)
    audit_show = audit.add_parser("show", help="print a plan's access log, newest last")
    audit_show.add_argument("plan", metavar="PLAN_ID")
    audit_show.add_argument("--limit", type=int, default=100, help="the newest N rows")
    audit_show.add_argument("--action", help="only this action (ws_join, plan_view, ...)")
    audit_show.set_defaults(func=cmd_audit_show)

    export = sub.add_parser(
        "export", help="write a plan as JSON (complete: `samplan import` brings it back)"
    )
    export.add_argument("plan", metavar="PLAN_ID")
    export.add_argument("--out", metavar="FILE", help="write here (mode 0600), not to stdout")
    export.set_defaults(func=cmd_export)
    import_ = sub.add_parser("import", help="import a plan from `samplan export` JSON")
    import_.add_argument("file", metavar="FILE", help="the export file, or - for stdin")
    import_.add_argument(
        "--municipality",
        metavar="NAME",
        help="put the plan in this municipality (it must exist); a moved plan's file then "
        "flags it for the KE there until it appoints a koordinator",
    )
    import_.set_defaults(func=cmd_import)
    purge = sub.add_parser("purge", help="delete plans closed more than SAMPLAN_RETENTION_DAYS ago")
    purge.add_argument("--dry-run", action="store_true", help="list them, delete nothing")
    purge.set_defaults(func=cmd_purge)

    backup = sub.add_parser(
        "backup", help="copy the SQLite database to a new file, online (the server may run)"
    )
    backup.add_argument("path", metavar="PATH", help="the new file (never overwritten)")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore", help="replace the SQLite database by a backup (the server must be stopped)"
    )
    restore.add_argument("path", metavar="PATH", help="a file written by samplan backup")
    restore.set_defaults(func=cmd_restore)

    bench = sub.add_parser("bench", help="run the benchmark (see bench/README)")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # everything after `bench` belongs to bench/run.py (--quick, …)
        argv = ["bench", "--", *argv[1:]] if argv[1:2] != ["--"] else argv
    args = build_parser().parse_args(argv)
    install_log_privacy()  # also for commands that log only through logging's last resort
    try:
        return int(args.func(args))
    except (CliError, StorageError, ValueError) as exc:
        print(f"samplan: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
