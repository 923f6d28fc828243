"""Failed log-ins slow an attacker down without locking the real person out: a growing,
short back-off per account and per address (tests run it in tenths of a second, see
conftest.make_settings), and the right password always gets in after at most that wait."""

from __future__ import annotations

import asyncio
import math
import re
import time

import httpx

from server.auth.throttle import LoginThrottle
from tests.support.live import LiveServer
from tests.support.web import PASSWORD, csrf_of, log_in
from tests.support.world import ROLE_USERS

GENEROUS = 30.0  # seconds: a wait for the server, never a measure of it


async def attempt_until_checked(
    http: httpx.AsyncClient, email: str, password: str, cap: float
) -> httpx.Response:
    """Log in, waiting out every "wait N seconds" answer; each answer must ask for at most
    the short maximum. Returns the first answer that checked the password."""
    deadline = time.monotonic() + GENEROUS
    while True:
        response = await log_in(http, email, password)
        if response.status_code != 429:
            return response
        assert int(response.headers["retry-after"]) <= math.ceil(cap)
        assert re.search(r'role="alert"[^>]*>.*?Vent 1 sekund', response.text, re.S)
        assert time.monotonic() < deadline, "still waiting after the back-off's maximum"
        await asyncio.sleep(0.05)


def test_back_off_grows_to_a_short_maximum_and_never_locks() -> None:
    now = [1000.0]
    throttle = LoginThrottle(base_seconds=1, max_seconds=30, clock=lambda: now[0])
    email, address = "åse.ødegård@eksempelvik.test", "198.51.100.7"
    waits = []
    for _ in range(12):
        assert throttle.wait_seconds(email, address) == 0  # the wait is over: checked
        throttle.failed(email, address)
        waits.append(throttle.wait_seconds(email, address))
        now[0] += waits[-1]
    assert waits[:2] == [0, 0]  # a couple of typos cost nothing
    assert waits[2:8] == [1, 2, 4, 8, 16, 30]  # then 1, 2, 4 ... seconds
    assert max(waits) == 30  # capped: never 15 minutes
    # another account from another address is not affected
    assert throttle.wait_seconds("line.berg@eksempelvik.test", "203.0.113.1") == 0
    throttle.succeeded(email)
    assert throttle.wait_seconds(email, "203.0.113.1") == 0


async def test_right_password_after_ten_wrong_gets_in_after_the_short_wait(
    web: LiveServer,
) -> None:
    cap = web.settings.login_backoff_max_seconds
    email = ROLE_USERS["leser"][0]
    async with httpx.AsyncClient(base_url=web.http) as http:
        for _ in range(10):
            wrong = await attempt_until_checked(http, email, "gjett 🤔 æøå", cap)
            assert wrong.status_code == 401
        # the server holds at most the short maximum against the next attempt
        assert web.services.login_throttle.wait_seconds(email, "127.0.0.1") <= cap
        right = await attempt_until_checked(http, email, PASSWORD, cap)
        assert right.status_code == 303 and right.headers["location"] == "/plans"
        assert (await http.get("/plans")).status_code == 200


async def test_many_failures_from_one_address_do_not_keep_others_behind_it_out(
    web: LiveServer,
) -> None:
    """A school's NAT: 30 failures for different accounts from one address, then someone
    there types the right password."""
    cap = web.settings.login_backoff_max_seconds
    async with httpx.AsyncClient(base_url=web.http) as http:
        for n in range(30):
            wrong = await attempt_until_checked(
                http, f"elev{n}.ødegård@eksempelvik.test", "feil passord 🫣", cap
            )
            assert wrong.status_code == 401
        assert web.services.login_throttle.wait_seconds("", "127.0.0.1") <= cap
        right = await attempt_until_checked(http, ROLE_USERS["deltaker"][0], PASSWORD, cap)
        assert right.status_code == 303


async def test_waiting_answer_is_the_same_for_known_and_unknown_accounts(
    web: LiveServer,
) -> None:
    """No oracle: an unknown e-mail backs off exactly like a known one."""
    web.services.login_throttle.clock = lambda: 5000.0  # time stands still: no wait runs out
    async with httpx.AsyncClient(base_url=web.http) as http:
        answers = {}
        for email in (ROLE_USERS["verge"][0], "finnes.ikke.øst@eksempelvik.test"):
            codes = [(await log_in(http, email, "feil passord ✋")).status_code for _ in range(5)]
            answers[email] = codes
        known, unknown = answers.values()
        assert known == unknown == [401, 401, 401, 429, 429]


async def test_a_stranger_s_failures_never_keep_the_owner_s_own_browser_waiting(
    web: LiveServer,
) -> None:
    """Someone who fails again the moment each wait ends could keep an account's owner
    waiting for ever; the browser the owner signed in from before is not that stranger."""
    email = ROLE_USERS["verge"][0]
    web.services.login_throttle.clock = lambda: 7000.0  # time stands still: no wait runs out
    async with (
        httpx.AsyncClient(base_url=web.http) as owner,
        httpx.AsyncClient(base_url=web.http) as stranger,
    ):
        assert (await log_in(owner, email)).status_code == 303  # Line Berg's own browser
        await owner.post("/logout", data={"csrf_token": csrf_of((await owner.get("/plans")).text)})
        codes = [(await log_in(stranger, email, "gjetter 🕵️ æøå")).status_code for _ in range(5)]
        assert codes[-1] == 429  # the stranger waits, and so would anyone without the cookie
        assert (await log_in(owner, email)).status_code == 303  # the owner gets in at once
        # Guesses from a browser that once signed in still slow down, on its own key.
        await owner.post("/logout", data={"csrf_token": csrf_of((await owner.get("/plans")).text)})
        mine = [(await log_in(owner, email, "feil i farten ✋")).status_code for _ in range(4)]
        assert mine == [401, 401, 401, 429]
        # The cookie is for that account only, and a forged one is nobody's.
        other = ROLE_USERS["deltaker"][0]
        for _ in range(3):
            await log_in(stranger, other, "feil 🙈")
        assert (await log_in(owner, other, "feil 🙈")).status_code == 429
        for _ in range(3):  # the owner's log-in started the account over: the stranger again
            await log_in(stranger, email, "gjetter igjen 🕵️")
        stranger.cookies.set("samplan_device", "forfalsket.abc", path="/login")
        assert (await log_in(stranger, email)).status_code == 429
