"""Which log-in session opened which socket, so a session that ends closes them all at once.

Every cookie-authenticated socket (a zone's /ws socket, the /events stream) registers here
under the session that opened it. `end_sessions` closes them with 4401 (the y-websocket
client stops reconnecting, and the page says the person is logged out): log-out calls it,
the watcher's round calls it for sessions that expired or idled out, and deactivating an
account will call it with the user's id. Token-authenticated sockets are not sessions and
are not registered: a token ends when it expires.

Typing on a socket is activity: an edit frame notes its session in a set (the sync hot path
pays one set insertion), and each round writes the noted sessions' last activity in one
statement, so a session is touched at most once per round however fast anyone types.
With several nodes the round's liveness check crosses nodes by itself (it reads the shared
sessions table), and an ending announced here (`ended`) is done on every other node at once
(server/cluster/events.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from crdt.hooks import Hook
from server.core.background import Periodic
from storage.repositories.sessions import SessionRepo

log = logging.getLogger("samplan.sessions")

# Closes one socket with 4401; called at most once per socket.
Closer = Callable[[], None]
SESSION_ENDED = "session ended"


class SessionSockets:
    def __init__(self, sessions: SessionRepo, idle_seconds: float, interval: float) -> None:
        self._sessions = sessions
        self._idle_seconds = idle_seconds
        self._closers: dict[str, dict[int, Closer]] = {}
        self._users: dict[str, int] = {}
        self._keys = 0
        self.active: set[str] = set()  # sessions that typed since the last round
        # Sessions ended here (ids, user, kept session), for the other nodes' sockets.
        self.ended: Hook[tuple[list[str], int | None, str | None]] = Hook("sessions ended")
        self._loop = Periodic("session-watch", interval, self.check_once)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def add(self, session_id: str, user_id: int, close: Closer) -> int:
        """Register an open socket of `session_id`; returns the key to `discard` it with."""
        self._keys += 1
        self._closers.setdefault(session_id, {})[self._keys] = close
        self._users[session_id] = user_id
        return self._keys

    def discard(self, session_id: str, key: int) -> None:
        closers = self._closers.get(session_id)
        if closers is not None:
            closers.pop(key, None)
            if not closers:
                del self._closers[session_id]
                del self._users[session_id]

    def note_activity(self, session_id: str) -> None:
        """An edit from this session's socket: it is not idle (written at the next round)."""
        self.active.add(session_id)

    def open_sessions(self) -> list[str]:
        return list(self._closers)

    def sockets_of(self, session_id: str) -> int:
        return len(self._closers.get(session_id, ()))

    def end_sessions(
        self,
        session_ids: Iterable[str] = (),
        *,
        user_id: int | None = None,
        keep: str | None = None,
        announce: bool = True,
    ) -> int:
        """Close every socket the sessions opened (and, with `user_id`, every socket of any
        session of that user but `keep`) with 4401, on every node (`announce`). Returns how
        many sockets were closed here."""
        ended = set(session_ids)
        if announce and (ended or user_id is not None):
            self.ended((sorted(ended), user_id, keep))
        if user_id is not None:
            ended |= {sid for sid, uid in self._users.items() if uid == user_id and sid != keep}
        closed = 0
        for sid in ended:
            closers = self._closers.pop(sid, {})
            self._users.pop(sid, None)
            self.active.discard(sid)
            for close in closers.values():
                close()
            closed += len(closers)
            if closers:
                log.info("session ended: %d sockets closed", len(closers))
        return closed

    async def check_once(self) -> None:
        """Write the last round's activity, then close the sockets of sessions that ended
        (expired, idle too long, or deleted by another process)."""
        active, self.active = self.active, set()
        if active:
            await self._sessions.touch(active, self._idle_seconds)
        open_ids = self.open_sessions()
        if not open_ids:
            return
        live = await self._sessions.live_ids(open_ids, self._idle_seconds)
        # Every node's round reads the shared table itself: nothing to announce.
        self.end_sessions((sid for sid in open_ids if sid not in live), announce=False)
