"""What no PostgreSQL text or jsonb column, and no JSON answer, can carry: NUL characters, lone
surrogates (not Unicode), NaN and infinities. Every boundary checks what it is handed with this one
walk before anything is written, so that one bad value is refused where it came in, with its place,
instead of failing a whole transaction or batch later."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

Loc = tuple[str | int, ...]


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    if "\x00" in text:
        return "contains a NUL character"
    if any("\ud800" <= c <= "\udfff" for c in text):
        return "contains a lone surrogate, which is not valid Unicode"
    return None


def unstorable(value: Any, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """Each place in parsed JSON (or YAML) holding a value that cannot be stored, with the reason;
    a bad key is reported at the place of its mapping."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            yield loc, problem
    elif isinstance(value, float) and not math.isfinite(value):
        yield loc, f"{value} is not a finite number"
    elif isinstance(value, dict):
        for key, item in value.items():
            key_problem = text_problem(str(key))
            if key_problem is not None:
                yield loc, f"has a key that {key_problem}"
            yield from unstorable(item, (*loc, key if isinstance(key, str | int) else str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from unstorable(item, (*loc, index))
