"""Why a page cannot be shown, raised where that is found out.

A handler or helper raises one of these instead of returning the error response, so no
caller has to check whether it got a value or a page to send back. One exception handler
(server.app.page_error) turns each into the response: error.html with the status and the
translated message, or the log-in redirect. Nothing has been changed when one is raised.

A form that is shown again with what was typed and a message is a page, not one of these.
"""

from __future__ import annotations


class PageError(Exception):
    """The status to answer with and the i18n key of the sentence that says why."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(f"{status} {key}")
        self.status = status
        self.key = key


class NotFound(PageError):
    """404. The default sentence is the one for a plan that does not exist or that the user
    may not see: the same answer for both, so it tells nothing about which."""

    def __init__(self, key: str = "error.not_found") -> None:
        super().__init__(404, key)


class Forbidden(PageError):
    """403: the user may see the plan but not do this (their role, an expired form)."""

    def __init__(self, key: str) -> None:
        super().__init__(403, key)


class BadRequest(PageError):
    """400: what was sent cannot be used."""

    def __init__(self, key: str) -> None:
        super().__init__(400, key)


class Conflict(PageError):
    """409: the request is fine but the state of things does not allow it now."""

    def __init__(self, key: str) -> None:
        super().__init__(409, key)


class PlanClosed(Conflict):
    """A closed plan is read-only for everyone until the koordinator reopens it (issue 4)."""

    def __init__(self) -> None:
        super().__init__("plan.error.closed")


class LoginRequired(PageError):
    """Not signed in: 303 to the log-in page, which comes back to `next_path` (by default the
    path asked for; a form's POST names the page the form was on instead)."""

    def __init__(self, next_path: str | None = None) -> None:
        super().__init__(303, "")
        self.next_path = next_path
