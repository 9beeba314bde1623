"""Frozen pictures on real footage: a clerk's small movements keep a camera alive, a picture that
does not change at all is frozen, and movement coming back ends it."""

from __future__ import annotations

import math
from pathlib import Path

import av

from capture.health import FrozenDetector
from offsite import scenes

FPS = 5  # frames the worker samples a second, as a camera analysed at 5 fps


def clerk(moves: list[tuple[float, float]], duration: float, noise: int) -> scenes.Scene:
    """The clerk at the post, shifted sideways by `dx` px from each (t, dx) on (in 0.2 s)."""
    x, y = scenes.CLERK_SPOT
    stops, shift = [(0.0, x, y)], 0.0
    for t, dx in moves:
        stops += [(t, x + shift, y), (t + 0.2, x + dx, y)]
        shift = dx
    stops.append((math.inf, x + shift, y))
    route = scenes.Route(tuple(stops), scenes.CLERK_SCALE, bob=0)
    return scenes.Scene((scenes.Actor("clerk", "clerk", route),), duration, noise=noise)


def frozen_at(scene: scenes.Scene, path: Path, after: float) -> list[tuple[float, bool]]:
    """(time, frozen) for each sampled frame of the scene's clip, the clip's clock as `now`."""
    scenes.write_clip(scene, path, fps=FPS)
    detector = FrozenDetector(after)
    states = []
    with av.open(str(path)) as container:
        for picture in container.decode(video=0):
            at = float(picture.time or 0.0)
            states.append((at, detector.update(picture, at)))
    return states


def test_a_clerk_swaying_ten_pixels_keeps_the_camera_alive(tmp_path: Path) -> None:
    sways = [(t, 10.0 * (i % 2 == 0)) for i, t in enumerate(range(1, 6))]  # 10 px, every second
    states = frozen_at(clerk(sways, duration=6.0, noise=7), tmp_path / "sway.mp4", after=1.5)
    assert not any(frozen for _, frozen in states), [t for t, frozen in states if frozen]


def test_a_picture_that_does_not_change_is_frozen_until_it_moves_again(tmp_path: Path) -> None:
    # Sensor grain (noise) but nothing moving for 3 s; then the clerk shifts every second.
    moves = [(t, 10.0 * (i % 2 == 0)) for i, t in enumerate(range(3, 6))]
    states = frozen_at(clerk(moves, duration=6.0, noise=7), tmp_path / "frozen.mp4", after=1.5)
    frozen = [t for t, is_frozen in states if is_frozen]
    assert frozen, states
    assert 1.5 <= frozen[0] <= 1.5 + 1 / FPS, frozen  # frozen `after` seconds into the still picture
    assert max(frozen) < 3.2, frozen  # alive again from the first movement, and for good
