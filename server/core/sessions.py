"""The session cookie's name, in one place: server.auth.pages sets and reads it for the pages,
and the sockets (server.sync.endpoint, server.sync.events) read it too. A leaf module,
so a socket endpoint
need not import the log-in pages to know which cookie to look at."""

from __future__ import annotations

SESSION_COOKIE = "samplan_session"
