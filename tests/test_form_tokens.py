"""Form tokens are bound to the session: a token from another person's session, or one this
browser had before logging in, is refused (hand-made POSTs against a real server)."""

from __future__ import annotations

import httpx

from tests.support.live import LiveServer
from tests.support.web import PASSWORD, csrf_of, signed_in
from tests.support.world import ROLE_USERS, World


async def test_a_token_from_another_session_is_refused(web: LiveServer, world: World) -> None:
    async with (
        signed_in(web.http, ROLE_USERS["deltaker"][0]) as ase,
        signed_in(web.http, ROLE_USERS["verge"][0]) as line,
    ):
        lines_token = csrf_of((await line.get("/plans")).text)
        ases_token = csrf_of((await ase.get("/plans")).text)
        assert lines_token != ases_token
        # Åse's browser posts with Line's token: refused, and Åse is still signed in
        refused = await ase.post("/logout", data={"csrf_token": lines_token})
        assert refused.status_code == 403
        assert (await ase.get("/plans")).status_code == 200
        # the same for a page's form (marking notifications read) and the bundle's POST
        assert (
            await ase.post("/notifications/read", data={"csrf_token": lines_token})
        ).status_code == 403
        read = await ase.post(
            f"/plans/{world.plan_id}/messages/read", data={"csrf_token": lines_token}
        )
        assert read.status_code == 403
        # her own token works
        assert (await ase.post("/logout", data={"csrf_token": ases_token})).status_code == 303


async def test_a_token_from_before_log_in_is_refused_after_it(web: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=web.http) as http:
        before = csrf_of((await http.get("/login")).text)
        signed = await http.post(
            "/login",
            data={
                "email": ROLE_USERS["koordinator"][0],
                "password": PASSWORD,
                "csrf_token": before,
                "next": "/plans",
            },
        )
        assert signed.status_code == 303
        assert "samplan_csrf" in signed.headers.get("set-cookie", "")  # deleted: rotated
        page = await http.get("/plans")
        after = csrf_of(page.text)
        assert after != before
        assert (await http.post("/logout", data={"csrf_token": before})).status_code == 403
        assert (await http.get("/plans")).status_code == 200  # still signed in
        assert (await http.post("/logout", data={"csrf_token": after})).status_code == 303
        # after log-out the session's token is dead too, and a fresh log-in form works
        assert (await http.post("/logout", data={"csrf_token": after})).status_code == 403
        again = csrf_of((await http.get("/login")).text)
        assert again not in (before, after)


async def test_a_token_of_another_browser_before_log_in_is_refused(web: LiveServer) -> None:
    async with (
        httpx.AsyncClient(base_url=web.http) as mine,
        httpx.AsyncClient(base_url=web.http) as theirs,
    ):
        await mine.get("/login")
        their_token = csrf_of((await theirs.get("/login")).text)
        answer = await mine.post(
            "/login",
            data={
                "email": ROLE_USERS["planeier"][0],
                "password": PASSWORD,
                "csrf_token": their_token,
            },
        )
        assert answer.status_code == 403 and 'role="alert"' in answer.text
        assert "samplan_session" not in answer.headers.get("set-cookie", "")
