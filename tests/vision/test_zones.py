"""Zones and lines: inside/outside with edges, sides as seen on screen, crossings of a segment."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from vision.detections import Detections
from vision.zones import Crossing, DirectedLine, LineCounter, PolygonZone

SQUARE = [(100.0, 100.0), (300.0, 100.0), (300.0, 300.0), (100.0, 300.0)]
# An L: the square without its top-right quarter.
ELL = [(100.0, 100.0), (200.0, 100.0), (200.0, 200.0), (300.0, 200.0), (300.0, 300.0), (100.0, 300.0)]


def standing(*objects: tuple[int, float, float]) -> Detections:
    """Objects (track, x, y) whose box has its bottom centre at (x, y)."""
    boxes = [(x - 10, y - 40, x + 10, y) for _, x, y in objects]
    tracks = [t for t, _, _ in objects]
    return Detections.build(boxes, [0.9] * len(objects), [2] * len(objects), ["car"] * len(objects), tracks)


@pytest.mark.parametrize(
    ("polygon", "point", "inside"),
    [
        (SQUARE, (200, 200), True),
        (SQUARE, (50, 200), False),
        (SQUARE, (350, 200), False),
        (SQUARE, (200, 99.9), False),
        (SQUARE, (100, 200), True),  # on the left edge
        (SQUARE, (300, 250), True),  # on the right edge
        (SQUARE, (200, 300), True),  # on the bottom edge
        (SQUARE, (300, 300), True),  # a corner
        (SQUARE, (300.01, 300), False),
        (ELL, (250, 150), False),  # in the notch
        (ELL, (150, 150), True),
        (ELL, (250, 250), True),
        (ELL, (250, 200), True),  # on the notch's lower edge
        (ELL, (200, 150), True),  # on the notch's left edge
        ([(0, 0), (400, 0), (200, 300)], (200, 299), True),
        ([(0, 0), (400, 0), (200, 300)], (300, 200), False),
    ],
)
def test_contains(polygon: Sequence[tuple[float, float]], point: tuple[float, float], inside: bool) -> None:
    zone = PolygonZone(polygon)
    assert zone.contains(np.array([point])).tolist() == [inside]


def test_contains_is_vectorised_and_takes_no_points() -> None:
    zone = PolygonZone(SQUARE)
    points = np.array([(200, 200), (0, 0), (100, 100), (301, 301)], np.float32)
    assert zone.contains(points).tolist() == [True, False, True, False]
    assert zone.contains(np.empty((0, 2))).shape == (0,)


def test_a_closing_corner_repeated_is_accepted() -> None:
    zone = PolygonZone([*SQUARE, SQUARE[0]])
    assert zone.contains([(200, 200), (99, 200)]).tolist() == [True, False]


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        ([(0, 0), (10, 10)], "at least 3 distinct corners"),
        ([(0, 0), (10, 10), (10, 10)], "at least 3 distinct corners"),
        ([(0, 0), (10, 10), (20, 20)], "no area"),
        ([(0, 0), (10, float("nan")), (20, 0)], "not a finite number"),
    ],
)
def test_bad_polygons_are_refused(polygon: Sequence[tuple[float, float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PolygonZone(polygon)


def test_trigger_judges_the_bottom_centre() -> None:
    zone = PolygonZone(SQUARE)
    # The first box hangs over the top edge but stands inside; the second covers the zone's
    # bottom half but stands below it.
    boxes = [(180, 50, 220, 150), (150, 200, 250, 350)]
    detections = Detections.build(boxes, [0.9, 0.9], [0, 0], ["person", "person"])
    assert zone.trigger(detections).tolist() == [True, False]


# Image coordinates: x to the right, y down. Left and right are as seen on screen by someone at
# `start` looking at `end`.
@pytest.mark.parametrize(
    ("start", "end", "point", "side"),
    [
        ((0, 100), (200, 100), (50, 40), 1),  # drawn rightwards: above is left
        ((0, 100), (200, 100), (50, 160), -1),  # and below is right
        ((200, 100), (0, 100), (50, 40), -1),  # drawn leftwards: above is right
        ((200, 100), (0, 100), (50, 160), 1),
        ((100, 0), (100, 200), (160, 50), 1),  # drawn downwards: the picture's right is left
        ((100, 0), (100, 200), (40, 50), -1),
        ((100, 200), (100, 0), (160, 50), -1),  # drawn upwards: the picture's right is right
        ((0, 100), (200, 100), (500, 100), 0),  # on the line's extension
        ((0, 0), (200, 200), (100, 100), 0),
        ((0, 0), (200, 200), (150, 100), 1),  # down-right diagonal: upper right is left
    ],
)
def test_side_as_seen_on_screen(
    start: tuple[float, float], end: tuple[float, float], point: tuple[float, float], side: int
) -> None:
    line = DirectedLine(start, end)
    result = line.side([point])
    assert result.dtype == np.int8
    assert result.tolist() == [side]


def test_a_line_needs_a_length() -> None:
    with pytest.raises(ValueError, match="no length"):
        DirectedLine((5, 5), (5, 5))


def run(counter: LineCounter, path: Sequence[tuple[float, float]], track: int = 1) -> list[Crossing]:
    crossings: list[Crossing] = []
    for x, y in path:
        crossings += counter.update(standing((track, x, y)))
    return crossings


RIGHTWARDS = DirectedLine((100, 300), (500, 300))  # left is above, right is below
DOWNWARDS = DirectedLine((300, 100), (300, 500))  # left is the picture's right


@pytest.mark.parametrize(
    ("line", "path", "directions"),
    [
        (RIGHTWARDS, [(300, 200), (300, 260), (300, 340), (300, 400)], ["left_to_right"]),  # coming down
        (RIGHTWARDS, [(300, 400), (300, 340), (300, 260), (300, 200)], ["right_to_left"]),  # going up
        (RIGHTWARDS, [(300, 200), (300, 400)], ["left_to_right"]),  # one frame on each side
        (RIGHTWARDS, [(600, 200), (600, 400)], []),  # beside the segment, beyond its end
        (RIGHTWARDS, [(50, 400), (50, 200)], []),  # before its start
        (RIGHTWARDS, [(300, 200), (300, 250), (300, 280)], []),  # approaches, never crosses
        (DOWNWARDS, [(200, 300), (400, 300)], ["right_to_left"]),  # moving right
        (DOWNWARDS, [(400, 300), (200, 300)], ["left_to_right"]),
        (DOWNWARDS, [(200, 600), (400, 600)], []),
    ],
)
def test_crossings_of_the_segment(
    line: DirectedLine, path: list[tuple[float, float]], directions: list[str]
) -> None:
    assert [c.direction for c in run(LineCounter(line), path)] == directions


def test_a_crossing_reports_where_and_which_box() -> None:
    crossings = run(LineCounter(RIGHTWARDS), [(200, 250), (400, 350)], track=7)
    assert crossings == [Crossing(7, "left_to_right", (300.0, 300.0), (390.0, 310.0, 410.0, 350.0))]


def test_a_path_round_the_end_then_through_counts_once() -> None:
    # Round the end (no crossing), then back through the segment: a crossing the other way.
    path = [(600, 200), (600, 400), (300, 400), (300, 200)]
    assert [c.direction for c in run(LineCounter(RIGHTWARDS), path)] == ["right_to_left"]


def test_jitter_inside_the_margin_counts_nothing() -> None:
    path = [(300, 250), *[(300, 300 + (3 if i % 2 else -3)) for i in range(20)]]
    assert run(LineCounter(RIGHTWARDS, margin=5), path) == []


@pytest.mark.parametrize("margin", [0.0, 5.0])
def test_jitter_across_the_line_counts_each_direction_once(margin: float) -> None:
    path = [(300, 250), *[(300, 300 + (8 if i % 2 == 0 else -8)) for i in range(20)]]
    counter = LineCounter(RIGHTWARDS, margin=margin)
    directions = [c.direction for c in run(counter, path)]
    assert directions == ["left_to_right", "right_to_left"]
    assert (counter.left_to_right, counter.right_to_left) == (1, 1)


def test_tracks_are_followed_apart_and_untracked_are_ignored() -> None:
    counter = LineCounter(RIGHTWARDS)
    assert counter.update(standing((1, 200, 250), (2, 400, 350), (-1, 300, 250))) == []
    crossings = counter.update(standing((1, 200, 350), (2, 400, 250), (-1, 300, 350)))
    assert sorted((c.tracker_id, c.direction) for c in crossings) == [
        (1, "left_to_right"),
        (2, "right_to_left"),
    ]


def test_a_forgotten_track_counts_again() -> None:
    counter = LineCounter(RIGHTWARDS, forget_after=3)
    assert len(run(counter, [(300, 250), (300, 350)])) == 1
    for _ in range(3):
        counter.update(Detections.empty())
    assert len(run(counter, [(300, 250), (300, 350)])) == 1
    assert counter.left_to_right == 2
