"""How long to wait before trying again: exponential back-off with jitter, for every retry loop
that waits per attempt (a camera reconnecting, a webhook redelivered)."""

from __future__ import annotations

import random


def jittered_delay(first: float, ceiling: float, attempt: int, rng: random.Random) -> float:
    """Seconds to wait before retry `attempt` (0: the first): the delay doubles from `first` up to
    `ceiling`, and is drawn from its upper half ("equal jitter": half fixed, half random), so that
    many retries spread out instead of arriving together."""
    top = min(ceiling, first * 2**attempt)
    return rng.uniform(top / 2, top)
