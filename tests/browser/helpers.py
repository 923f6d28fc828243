"""Helpers for the browser tests: log-in, waits that log how long they took, the plan's
starting content, and a TCP proxy that can cut a browser's connections.

Nothing here imports Playwright at module level: without it the tests skip (or fail in CI)
from the `browser` fixture instead of erroring at collection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crdt.schema import new_zone_doc, write_zone

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.support.live import LiveServer
    from tests.support.world import World

log = logging.getLogger("tests.browser")

TIMEOUT_MS = 20_000
ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "tests" / "interop" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "tests" / "artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "Blåbærsyltetøy 🫐 2026"
READY = '#plan-app[data-ready="true"][data-synced="true"]'

# The text of an element by test id: an input's value, an editor's blocks joined by "\n"
# (without the other users' caret labels, which Tiptap puts inside the editor), else text.
TEXT_OF_JS = """(id) => {
  const el = document.querySelector(`[data-testid="${CSS.escape(id)}"]`)
  if (!el) return null
  if (['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName)) return el.value
  if (el.classList.contains('ProseMirror')) {
    const copy = el.cloneNode(true)
    copy.querySelectorAll('.collab-caret, .ProseMirror-widget').forEach((n) => n.remove())
    return Array.from(copy.children).map((b) => b.textContent).join('\\n')
  }
  return el.textContent
}"""


async def text_of(page: Page, testid: str) -> str | None:
    value = await page.evaluate(TEXT_OF_JS, testid)
    return value if value is None else str(value)


async def wait_until(page: Page, expression: str, arg: Any = None, what: str = "") -> float:
    """Wait for a JS predicate; log the milliseconds it took under `what`."""
    started = time.perf_counter()
    await page.wait_for_function(expression, arg=arg, polling=10, timeout=TIMEOUT_MS)
    return log_latency(what, started) if what else _ms(started)


def log_latency(what: str, started: float) -> float:
    """Log the milliseconds since `started` (time.perf_counter()) as a latency."""
    ms = _ms(started)
    log.info("latency %-45s %7.0f ms", what, ms)
    return ms


COMMENT_COUNT_JS = """([anchor, n]) => {
  const button = document.querySelector(`[data-testid="comment-toggle-${CSS.escape(anchor)}"]`)
  return button !== null && button.dataset.count === String(n)
}"""


async def wait_comment_count(page: Page, anchor: str, count: int, what: str = "") -> float:
    """Wait until the comment button of `anchor` says it has `count` comments."""
    return await wait_until(page, COMMENT_COUNT_JS, [anchor, count], what)


async def wait_text(
    page: Page, testid: str, expected: str, what: str = "", *, contains: bool = False
) -> float:
    """Wait until the element's text equals (or contains) `expected`; a clear message if not."""
    check = f"""([id, want]) => {{
      const value = ({TEXT_OF_JS})(id)
      return value !== null && ({"value.includes(want)" if contains else "value === want"})
    }}"""
    try:
        return await wait_until(page, check, [testid, expected], what)
    except Exception as exc:
        if type(exc).__name__ != "TimeoutError":
            raise
        actual = await text_of(page, testid)
        relation = "contain" if contains else "be"
        raise AssertionError(f"{testid} should {relation} {expected!r}, is {actual!r}") from exc


async def log_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    # The planeier and verge with one plan land on its Min plan (issue 13): tests that log
    # in go on from Mine planer, as everyone else lands there.
    await page.wait_for_url(lambda url: url == f"{base}/plans" or url.endswith("/min"))
    if page.url != f"{base}/plans":
        await page.goto(f"{base}/plans")


async def open_plan(page: Page, base: str, plan_id: str) -> None:
    started = time.perf_counter()
    await page.goto(f"{base}/plans/{plan_id}")
    await page.locator(READY).wait_for(state="attached")
    log_latency("plan page loaded and synced", started)


async def type_at_end(page: Page, testid: str, text: str) -> None:
    """Click into a field or editor, go to the very end and type like a person."""
    await page.get_by_test_id(testid).click()
    await page.keyboard.press("Control+End")
    await page.keyboard.type(text)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# --- the plan's content before anyone opens it ---------------------------------------------


@dataclass(frozen=True)
class PlanContent:
    goal_id: str
    goal_title: str
    measure_id: str
    measure_title: str
    fritid_goal_id: str
    about_me: tuple[str, ...]


GOAL_ID = "6f1c1d52-1b7a-4c43-9a55-0c1f6a2e7b01"
MEASURE_ID = "b3d7e0a4-5f0e-4b8e-8f63-2d9c4a7e1c02"
FRITID_GOAL_ID = "0a9e8b7c-6d5e-4f3a-9b2c-1d0e9f8a7b03"
EDITED_AT = "2026-01-10T09:30:00Z"


async def write_plan_content(server: LiveServer, world: World) -> PlanContent:
    """A goal and a measure in "skole", a goal in "fritid" and Om meg, straight into the
    durable log (no room is loaded yet, so the first client loads exactly this)."""
    kari = str(world.users["koordinator"])
    content = PlanContent(
        goal_id=GOAL_ID,
        goal_title="Lese og skrive med glede 📚 – særlig på ungdomsskolen",
        measure_id=MEASURE_ID,
        measure_title="Leseøkter med spesialpedagog 📖 på tirsdager",
        fritid_goal_id=FRITID_GOAL_ID,
        about_me=(
            "Jeg heter Jonas, er 14 år og liker fotball ⚽ og å tegne.",
            "Det er lettest for meg når jeg vet hva som skal skje på forhånd – og når "
            "voksne snakker med meg, ikke om meg 🙂",
        ),
    )
    zones: dict[str, tuple[str, dict[str, Any]]] = {
        "content": (
            "content",
            {
                "meta": {
                    "planPeriodStart": "2026-01-01",
                    "planPeriodEnd": "2026-12-31",
                    "nextRevision": "2026-06-30",
                    "status": "aktiv",
                },
                "aboutMe": list(content.about_me),
                "resources": ["God på å tegne og på å holde ut på trening 💪."],
                "needs": [("bullet", ["Forutsigbar dag på skolen", "Hjelp til lekser 📝"])],
            },
        ),
        "area/skole": (
            "area",
            {
                "goals": [
                    {
                        "id": GOAL_ID,
                        "parentId": None,
                        "label": "M1",
                        "title": content.goal_title,
                        "description": ["Jonas vil lese lengre tekster på egen hånd 😊."],
                        "updatedBy": kari,
                        "updatedAt": EDITED_AT,
                    }
                ],
                "measures": [
                    {
                        "id": MEASURE_ID,
                        "goalId": GOAL_ID,
                        "title": content.measure_title,
                        "description": ["Én-til-én, 45 minutter, på grupperommet."],
                        "responsible": [kari],
                        "externalParty": "PPT Eksempelvik",
                        "scope": "2 timer/uke",
                        "start": "2026-01-12",
                        "end": "2026-06-19",
                        "status": "pagar",
                        "meetingId": None,
                        "updatedBy": kari,
                        "updatedAt": EDITED_AT,
                    }
                ],
                "evaluations": [],
            },
        ),
        "area/fritid": (
            "area",
            {
                "goals": [
                    {
                        "id": FRITID_GOAL_ID,
                        "parentId": None,
                        "label": "M2",
                        "title": "Trene med håndballaget på Ørnes 🤾 hver uke",
                        "description": [],
                        "updatedBy": kari,
                        "updatedAt": EDITED_AT,
                    }
                ],
                "measures": [],
                "evaluations": [],
            },
        ),
    }
    batch = []
    for suffix, (kind, data) in zones.items():
        doc = new_zone_doc(kind)
        write_zone(doc, kind, data)
        batch.append((world.zones[suffix], doc.get_update()))
    # Written as Kari: the record (not the stamps above, which no reader trusts) says so.
    authors = [world.users["koordinator"]] * len(batch)
    await server.services.repos.zone_log.append_batch(batch, authors)
    return content


# --- a proxy whose connections can be cut ---------------------------------------------------


class CuttableProxy:
    """TCP proxy to the server. `cut()` drops every open connection (the browser's WebSockets
    see the link die, as with a lost network) and refuses new ones until `restore()`.
    Playwright's offline emulation leaves open WebSockets alone, hence this."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.online = True
        self.refused = 0
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> CuttableProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.online:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(self._pump(reader, pair), self._pump(up_reader, pair[::-1]))
        finally:
            self._pairs.discard(pair)

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader, pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter]
    ) -> None:
        source, sink = pair
        try:
            while data := await reader.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for writer in pair:
                writer.transport.close()

    def cut(self) -> None:
        self.online = False
        for pair in list(self._pairs):
            for writer in pair:
                writer.transport.abort()

    def restore(self) -> None:
        self.online = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
