"""How a person appears to others in a plan: name, initials, role and a stable colour."""

from __future__ import annotations

from typing import Any

# Colours with at least 4.5:1 contrast against white text (WCAG AA for cursor labels).
PALETTE = ("#1f5fa8", "#9b2c2c", "#2f6b3a", "#6b3fa0", "#8a4b08", "#00677f", "#a3195b", "#4a5568")


def initials(name: str) -> str:
    parts = [p for p in name.replace("-", " ").split() if p[:1].isalpha()]
    if not parts:
        return "?"
    letters = parts[0][0] + (parts[-1][0] if len(parts) > 1 else "")
    return letters.upper()


def dotted_initials(name: str) -> str:
    """'Jonas Berg' -> 'J. B.'; 'Åse Marie Ødegård' -> 'Å. M. Ø.' (no more of the name): how
    e-mail names the person a plan is for, never with the name itself."""
    parts = [p for p in name.replace("-", " ").split() if p[:1].isalpha()]
    return " ".join(f"{p[0].upper()}." for p in parts[:3]) or "?"


def colour_for(user_id: int) -> str:
    return PALETTE[user_id % len(PALETTE)]


def identity_of(user_id: int, name: str, role: str) -> dict[str, Any]:
    return {
        "id": user_id,
        "name": name,
        "role": role,
        "initials": initials(name),
        "color": colour_for(user_id),
    }
