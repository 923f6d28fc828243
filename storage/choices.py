"""The stored values the command line offers as choices (roles, languages), without
SQLAlchemy: `samplan --help` and an argument error import this module, not storage.models,
so they start in a fraction of a second (issue 16). storage.models and the repositories
re-export these names; this is their one definition."""

from __future__ import annotations

ROLES = ("planeier", "verge", "koordinator", "deltaker", "leser")
# The languages Samplan speaks (client/i18n/<code>.json), bokmål first: the default; the
# order is the order of the header's language links.
LANGUAGES = ("nb", "nn", "en")
# Who may take the koordinator role over, and what the old koordinator may become: the
# planeier and verge are the person and their guardian, never the one who runs the plan.
HANDOVER_ROLES = ("deltaker", "leser")
