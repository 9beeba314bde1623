"""Video rules on scripted tracks: each fires once after its duration, clears once, and is not
fooled by missed detections, missing frames, id switches, jitter or the schedule."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest

from hub.config import Deployment, load_config
from hub.config.rules import Absence, CoOccurrence, Count, Fall, LineCrossing, Presence, Stationary
from vision.detections import Detections
from vision.rules import (
    AbsenceRule,
    CoOccurrenceRule,
    CountRule,
    FallRule,
    Hit,
    LineCrossingRule,
    PresenceRule,
    StationaryRule,
    VisionRule,
    build_rules,
)
from vision.zones import DirectedLine, PolygonZone

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Asia/Shanghai
ZONE = PolygonZone([(100, 100), (900, 100), (900, 700), (100, 700)])
OPENING_HOURS = {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": ["09:00-12:00", "13:30-17:30"]}

Obj = tuple[int, float, float]  # track, x, y of the bottom centre


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def box(x: float, y: float, w: float = 40, h: float = 100) -> tuple[float, float, float, float]:
    """A box whose bottom centre is (x, y)."""
    return (x - w / 2, y - h, x + w / 2, y)


def frame(*objects: Obj, label: str = "person", conf: float = 0.9) -> Detections:
    return Detections.build(
        [box(x, y) for _, x, y in objects],
        [conf] * len(objects),
        [0] * len(objects),
        [label] * len(objects),
        [t for t, _, _ in objects],
    )


def parts(*boxes: tuple[int, str, tuple[float, float, float, float]]) -> Detections:
    """Detections from (track, label, xyxy)."""
    return Detections.build(
        [b for _, _, b in boxes],
        [0.9] * len(boxes),
        [0] * len(boxes),
        [label for _, label, _ in boxes],
        [t for t, _, _ in boxes],
    )


def feed(rule: VisionRule[Any], frames: Iterable[tuple[float, Detections]]) -> list[Hit]:
    hits: list[Hit] = []
    for seconds, detections in frames:
        hits += rule.update(detections, at(seconds))
    return hits


def every(start: float, stop: float, step: float, detections: Detections) -> list[tuple[float, Detections]]:
    """The same detections in frames from `start` up to (not including) `stop`."""
    count = round((stop - start) / step)
    return [(start + i * step, detections) for i in range(count)]


def story(hits: Sequence[Hit]) -> list[tuple[str, float]]:
    return [("clear" if h.cleared else "fire", (h.time - T0).total_seconds()) for h in hits]


def config(kind: type[Any], **fields: Any) -> Any:
    (kind_name,) = get_args(kind.model_fields["type"].annotation)
    base = {"id": "r1", "name": "rule", "camera": "cam1", "type": kind_name}
    if "zone" in kind.model_fields:
        base["zone"] = "z1"
    return kind.model_validate({**base, **fields})


EMPTY = Detections.empty()
PERSON = frame((1, 500, 400))


# --- presence ---------------------------------------------------------------------------------


def presence(**fields: Any) -> PresenceRule:
    return PresenceRule(config(Presence, **{"min_duration": 5, **fields}), TZ, ZONE)


@pytest.mark.parametrize("step", [0.2, 1.0, 2.5])
def test_presence_fires_after_its_duration_and_not_before(step: float) -> None:
    rule = presence()
    before = feed(rule, every(0, 5, step, PERSON))
    assert before == []
    hits = feed(rule, [(5, PERSON), (5 + step, PERSON)])
    assert story(hits) == [("fire", 5.0)]
    (hit,) = hits
    assert (hit.rule, hit.camera, hit.zone, hit.tracks) == ("r1", "cam1", "z1", (1,))
    assert hit.boxes == (box(500, 400),)
    assert hit.key == "r1:zone:20261123T010000.000000"
    assert hit.detail["duration"] == 5.0


@pytest.mark.parametrize(
    "detections",
    [
        frame((1, 500, 400), label="car"),  # not the rule's label
        frame((1, 500, 400), conf=0.3),  # below min_confidence
        frame((1, 950, 400)),  # outside the zone
        frame((1, 500, 750)),  # its box overlaps the zone but it stands below it
    ],
)
def test_presence_ignores_what_is_not_in_its_zone(detections: Detections) -> None:
    assert feed(presence(), every(0, 30, 1, detections)) == []


def test_presence_clears_after_its_grace_stamped_with_the_first_empty_frame() -> None:
    rule = presence()
    hits = feed(rule, [*every(0, 10, 1, PERSON), *every(10, 30, 1, EMPTY)])
    assert story(hits) == [("fire", 5.0), ("clear", 10.0)]
    assert hits[1].key == hits[0].key
    assert hits[1].detail["reason"] == "gone"


def test_presence_bridges_missed_detections_and_missing_frames() -> None:
    rule = presence()
    frames = [
        *every(0, 3, 1, PERSON),
        *every(3, 9, 1, EMPTY),  # missed for 6 s: the spell goes on
        (9, PERSON),  # fires: seen since 0
        *every(10, 19, 1, EMPTY),  # 9 s of misses: not gone yet
        (19, PERSON),
        (60, PERSON),  # no frames at all for 41 s: no evidence it left
        *every(61, 80, 1, EMPTY),
    ]
    assert story(feed(rule, frames)) == [("fire", 9.0), ("clear", 61.0)]


def test_presence_fires_again_for_a_new_occurrence() -> None:
    rule = presence()
    frames = [*every(0, 6, 1, PERSON), *every(6, 20, 1, EMPTY), *every(20, 26, 1, PERSON)]
    hits = feed(rule, frames)
    assert story(hits) == [("fire", 5.0), ("clear", 6.0), ("fire", 25.0)]
    assert hits[0].key != hits[2].key


def test_presence_after_hours_window_overnight() -> None:
    # 20:30-05:30: nothing during the day, a fire at night, a clear when the window closes.
    rule = presence(schedule={"hours": ["20:30-05:30"]})
    night = T0 + timedelta(hours=12)  # 21:00 local
    assert feed(rule, every(0, 60, 1, PERSON)) == []
    hits = feed(rule, [((night - T0).total_seconds() + s, PERSON) for s in range(0, 10)])
    assert story(hits) == [("fire", 12 * 3600 + 5.0)]
    morning = (night - T0).total_seconds() + 8.5 * 3600  # 05:30 local
    hits = feed(rule, every(morning - 30, morning + 60, 2, PERSON))
    assert story(hits) == [("clear", morning)]
    assert hits[0].detail["reason"] == "schedule_ended"


def test_frames_must_have_a_timezone_and_come_in_order() -> None:
    rule = presence()
    with pytest.raises(ValueError, match=r"rule 'r1': frame time .* has no timezone"):
        rule.update(PERSON, datetime(2026, 11, 23, 9, 0))
    assert story(feed(rule, every(0, 6, 1, PERSON))) == [("fire", 5.0)]
    # A late frame is ignored: taken, it would make the person last seen at 3, gone by 14.
    assert feed(rule, [(3, PERSON), (5, EMPTY)]) == []
    assert feed(rule, [(14, EMPTY)]) == []
    assert story(feed(rule, [(16, EMPTY)])) == [("clear", 14.0)]


# --- absence ----------------------------------------------------------------------------------


def absence(**fields: Any) -> AbsenceRule:
    return AbsenceRule(config(Absence, **{"max_absence": 60, "smoothing": 5, **fields}), TZ, ZONE)


@pytest.mark.parametrize("step", [0.5, 1.0, 5.0])
def test_absence_fires_after_max_absence_from_the_last_sighting(step: float) -> None:
    rule = absence()
    assert feed(rule, [*every(0, 10, step, PERSON), (10, PERSON), *every(10 + step, 70, step, EMPTY)]) == []
    hits = feed(rule, every(70, 90, step, EMPTY))
    assert story(hits) == [("fire", 70.0)]
    assert hits[0].key == "r1:post:20261123T010010.000000"
    assert hits[0].detail["absent_for"] == 60.0


def test_absence_is_not_fired_by_missed_detections() -> None:
    # Someone at the post, missed in every third frame and in a run of 50 s: never 60 s empty.
    frames = [(s, EMPTY if s % 3 == 0 else PERSON) for s in range(0, 300)]
    frames += [(s, EMPTY) for s in range(300, 350)] + [(s, PERSON) for s in range(350, 400)]
    assert feed(absence(), frames) == []


def test_absence_counts_from_the_schedule_opening() -> None:
    rule = absence(schedule=OPENING_HOURS)
    # Empty since 08:50; the hall opens at 09:00, so the post is missed from 09:01.
    hits = feed(rule, every(-600, 120, 2, EMPTY))
    assert story(hits) == [("fire", 60.0)]
    assert hits[0].detail["since"] == T0.isoformat()


def test_absence_clears_at_schedule_end_and_restarts_after_lunch() -> None:
    rule = absence(schedule=OPENING_HOURS)
    noon, reopen = 3 * 3600.0, 4.5 * 3600.0  # 12:00 and 13:30 local
    hits = feed(rule, every(noon - 123, noon + 600, 7, EMPTY))  # no frame exactly at 12:00
    assert story(hits) == [("fire", noon - 60), ("clear", noon)]
    assert hits[1].detail["reason"] == "schedule_ended"
    # Nobody there through the lunch break: nothing, then 60 s after the reopening, a new fire.
    hits = feed(rule, every(noon + 600, reopen + 120, 5, EMPTY))
    assert story(hits) == [("fire", reopen + 60)]


def test_absence_with_no_frames_over_lunch_still_clears_and_reopens() -> None:
    rule = absence(schedule=OPENING_HOURS)
    noon, reopen = 3 * 3600.0, 4.5 * 3600.0
    assert story(feed(rule, every(noon - 100, noon - 30, 10, EMPTY))) == [("fire", noon - 40)]
    # The camera was down over lunch: the next frame, at 13:35:30, finds the post empty since the
    # opening at 13:30, nobody having been seen since.
    hits = feed(rule, [(reopen + 330, EMPTY), (reopen + 360, EMPTY)])
    assert story(hits) == [("clear", noon), ("fire", reopen + 330)]
    assert hits[1].detail["since"] == (T0 + timedelta(seconds=reopen)).isoformat()


def test_absence_needs_a_confirmed_return_to_clear() -> None:
    rule = absence()
    assert story(feed(rule, every(0, 61, 1, EMPTY))) == [("fire", 60.0)]
    # A spurious detection, then a short visit that turns mostly empty: no clear.
    assert feed(rule, [(70, PERSON), *every(71, 80, 1, EMPTY), (80, PERSON), (81, PERSON)]) == []
    assert feed(rule, every(82, 90, 1, EMPTY)) == []
    # Back at 90 for good, missed once at 92: cleared at 95, stamped with the return at 90.
    hits = feed(rule, [(90, PERSON), (91, PERSON), (92, EMPTY), *every(93, 100, 1, PERSON)])
    assert story(hits) == [("clear", 90.0)]
    assert hits[0].detail["reason"] == "returned"
    # And the post can be missed again: counted from the last sighting.
    assert story(feed(rule, every(100, 200, 1, EMPTY))) == [("fire", 159.0)]


# --- stationary -------------------------------------------------------------------------------


def stationary(**fields: Any) -> StationaryRule:
    return StationaryRule(config(Stationary, **{"min_duration": 30, "max_movement": 10, **fields}), TZ, ZONE)


def car(track: int, x: float = 500, y: float = 400) -> Detections:
    return frame((track, x, y), label="car")


CAR_RULE = {"labels": ["car"]}


def test_stationary_fires_per_track_after_min_duration_with_jitter() -> None:
    rule = stationary(**CAR_RULE)
    frames = [(s, car(3, 500 + (s % 3) * 2, 400 - (s % 2) * 3)) for s in range(0, 40)]
    hits = feed(rule, frames)
    assert story(hits) == [("fire", 30.0)]
    assert hits[0].tracks == (3,)
    assert hits[0].key == "r1:3:20261123T010000.000000"


def test_a_creeping_object_is_not_stationary() -> None:
    frames = [(s, car(3, 200 + s * 1.5)) for s in range(0, 200)]  # 15 px every 10 s
    assert feed(stationary(**CAR_RULE), frames) == []


def test_stationary_clears_when_it_moves_and_starts_again_where_it_stops() -> None:
    rule = stationary(**CAR_RULE)
    frames = [*every(0, 40, 2, car(3)), *every(40, 100, 2, car(3, 600))]
    hits = feed(rule, frames)
    assert story(hits) == [("fire", 30.0), ("clear", 40.0), ("fire", 70.0)]
    assert hits[1].detail["reason"] == "moved"
    assert hits[0].key == hits[1].key != hits[2].key


def test_stationary_survives_missed_frames_and_clears_when_it_leaves() -> None:
    rule = stationary(**CAR_RULE)
    frames = [*every(0, 10, 1, car(3)), *every(10, 14, 1, EMPTY), *every(14, 40, 1, car(3))]
    frames += [*every(40, 45, 1, car(3, 950)), *every(45, 60, 1, EMPTY)]  # out of the zone, then gone
    hits = feed(rule, frames)
    assert story(hits) == [("fire", 30.0), ("clear", 40.0)]
    assert hits[1].detail["reason"] == "left"


def test_an_id_switch_continues_the_timer_and_the_occurrence() -> None:
    rule = stationary(**CAR_RULE)
    frames = [*every(0, 20, 2, car(3)), (22, EMPTY), *every(24, 50, 2, car(8, 502))]
    frames += every(50, 70, 2, car(8, 560))  # moves on
    hits = feed(rule, frames)
    assert story(hits) == [("fire", 30.0), ("clear", 50.0)]
    assert hits[0].tracks == (8,)
    assert hits[0].detail["first_track"] == 3
    assert hits[0].key == hits[1].key == "r1:3:20261123T010000.000000"


@pytest.mark.parametrize(
    ("new_box_x", "gap", "fire_at"),
    [
        (502, 4, 30.0),  # same place, soon: the timer goes on
        (530, 4, 54.0),  # IoU below 0.5: a new object, a new timer
        (502, 16, 66.0),  # lost for longer than the grace: a new timer
    ],
)
def test_id_switch_needs_the_same_place_within_the_grace(
    new_box_x: float, gap: float, fire_at: float
) -> None:
    rule = stationary(**CAR_RULE)
    frames = [*every(0, 20, 2, car(3)), *every(20, 20 + gap, 2, EMPTY)]
    frames += every(20 + gap, 90, 2, car(8, new_box_x))
    assert story(feed(rule, frames))[:1] == [("fire", fire_at)]


def test_a_returning_old_id_does_not_share_the_occurrence_of_its_successor() -> None:
    rule = stationary(**CAR_RULE)
    frames = [*every(0, 10, 2, car(3)), *every(10, 40, 2, car(8, 502))]
    frames += every(40, 80, 2, frame((8, 502, 400), (3, 300, 400), label="car"))
    hits = feed(rule, frames)
    assert story(hits) == [("fire", 30.0), ("fire", 70.0)]
    assert hits[0].key.startswith("r1:3:") and hits[1].key.startswith("r1:3-2:")


# --- count ------------------------------------------------------------------------------------


def count(**fields: Any) -> CountRule:
    return CountRule(config(Count, **{"min_count": 3, "min_duration": 10, **fields}), TZ, ZONE)


def people(n: int, y: float = 400, dx: float = 0) -> Detections:
    return frame(*[(i + 1, 150 + 60 * i + dx, y) for i in range(n)])


def test_count_fires_with_enough_objects_for_its_duration_and_clears() -> None:
    rule = count()
    frames = [*every(0, 5, 1, people(2)), *every(5, 15, 1, people(3)), *every(15, 20, 1, people(5))]
    frames += [(20, people(1)), *every(21, 30, 1, people(4)), *every(30, 45, 1, people(2))]
    hits = feed(rule, frames)
    assert story(hits) == [("fire", 15.0), ("clear", 30.0)]
    assert (hits[0].detail["count"], hits[0].detail["max_count"]) == (5, 5)
    assert hits[0].tracks == (1, 2, 3, 4, 5)
    assert hits[1].detail["max_count"] == 5


def test_count_with_max_speed_counts_only_slow_tracks() -> None:
    rule = count(labels=["car"], max_speed=20)
    slow = [(s, frame(*[(i, 150 + 60 * i + s * 5, 400) for i in range(3)], label="car")) for s in range(30)]
    assert story(feed(rule, slow)) == [("fire", 11.0)]  # first frame has no speeds yet: counted from 1
    rule = count(labels=["car"], max_speed=20)
    fast = [(s, frame(*[(i, 150 + 60 * i + s * 25, 400) for i in range(3)], label="car")) for s in range(30)]
    assert feed(rule, fast) == []


def test_count_with_max_speed_ignores_untracked_objects() -> None:
    rule = count(max_speed=20)
    untracked = frame(*[(-1, 150 + 60 * i, 400) for i in range(5)])
    assert feed(rule, every(0, 60, 1, untracked)) == []
    assert story(feed(count(), every(0, 60, 1, untracked))) == [("fire", 10.0)]


# --- line crossing ----------------------------------------------------------------------------

LINE = DirectedLine((100, 300), (500, 300))  # drawn rightwards: left is above it


def crossing(forbidden: str) -> LineCrossingRule:
    rule = config(LineCrossing, line="l1", labels=["car"], forbidden=forbidden)
    return LineCrossingRule(rule, TZ, LINE)


def drive(
    track: int, points: Sequence[tuple[float, float]], start: float = 0
) -> list[tuple[float, Detections]]:
    return [(start + i, frame((track, x, y), label="car")) for i, (x, y) in enumerate(points)]


DOWN = [(300, 200), (300, 260), (300, 340), (300, 400)]  # from left (above) to right (below)
UP = DOWN[::-1]


@pytest.mark.parametrize(
    ("forbidden", "path", "fires"),
    [
        ("left_to_right", DOWN, True),
        ("left_to_right", UP, False),
        ("right_to_left", UP, True),
        ("right_to_left", DOWN, False),
        ("left_to_right", [(700, 200), (700, 400)], False),  # beside the segment
    ],
)
def test_line_crossing_in_the_forbidden_direction(
    forbidden: str, path: list[tuple[float, float]], fires: bool
) -> None:
    hits = feed(crossing(forbidden), drive(4, path))
    if not fires:
        assert hits == []
        return
    assert story(hits) == [("fire", 2.0), ("clear", 2.0)]
    assert hits[0].key == hits[1].key == "r1:4:20261123T010002.000000"
    assert (hits[0].line, hits[0].tracks, hits[0].detail["direction"]) == ("l1", (4,), forbidden)


def test_line_crossing_back_and_forth_and_jitter_fire_once() -> None:
    path = [*DOWN, *UP, *DOWN, *[(300, 300 + (8 if i % 2 else -8)) for i in range(10)]]
    hits = feed(crossing("left_to_right"), drive(4, path))
    assert story(hits) == [("fire", 2.0), ("clear", 2.0)]
    # Another track is another finding.
    hits = feed(crossing("left_to_right"), [*drive(4, DOWN), *drive(5, DOWN, start=10)])
    assert [h.tracks for h in hits if not h.cleared] == [(4,), (5,)]


# --- co-occurrence ----------------------------------------------------------------------------

PERSON_BOX = (400.0, 200.0, 500.0, 500.0)  # stands at (450, 500); upper third down to y=300


def phone_rule() -> CoOccurrenceRule:
    return CoOccurrenceRule(config(CoOccurrence, with_labels=["cell phone"], min_duration=5), TZ, ZONE)


def gear_rule() -> CoOccurrenceRule:
    return CoOccurrenceRule(
        config(CoOccurrence, without_labels=["chef_hat", "mask"], min_duration=5), TZ, ZONE
    )


@pytest.mark.parametrize(
    ("extra", "fires"),
    [
        ([(9, "cell phone", (495.0, 300.0, 510.0, 320.0))], True),  # held at the side: centre in +10 %
        ([(9, "cell phone", (440.0, 350.0, 460.0, 380.0))], True),
        ([(9, "cell phone", (520.0, 300.0, 540.0, 320.0))], False),  # beside the person
        ([(9, "cup", (440.0, 350.0, 460.0, 380.0))], False),
        ([], False),
    ],
)
def test_phone_at_post(extra: list[tuple[int, str, tuple[float, float, float, float]]], fires: bool) -> None:
    detections = parts((1, "person", PERSON_BOX), *extra)
    hits = feed(phone_rule(), every(0, 10, 1, detections))
    assert story(hits) == ([("fire", 5.0)] if fires else [])
    if fires:
        assert hits[0].tracks == (1,)
        assert hits[0].boxes == (PERSON_BOX, extra[0][2])
        assert hits[0].detail["with"] == ["cell phone"]


HAT = (430.0, 190.0, 470.0, 215.0)
MASK = (435.0, 225.0, 465.0, 245.0)


@pytest.mark.parametrize(
    ("gear", "missing"),
    [
        ([("chef_hat", HAT), ("mask", MASK)], None),
        ([("chef_hat", HAT)], ["mask"]),
        ([("mask", MASK)], ["chef_hat"]),
        ([], ["chef_hat", "mask"]),
        ([("chef_hat", (430.0, 450.0, 470.0, 480.0)), ("mask", MASK)], ["chef_hat"]),  # a hat at its feet
    ],
)
def test_required_gear(
    gear: list[tuple[str, tuple[float, float, float, float]]], missing: list[str] | None
) -> None:
    detections = parts((1, "person", PERSON_BOX), *[(-1, label, b) for label, b in gear])
    hits = feed(gear_rule(), every(0, 10, 1, detections))
    if missing is None:
        assert hits == []
    else:
        assert story(hits) == [("fire", 5.0)]
        assert hits[0].detail["missing"] == missing


def test_co_occurrence_clears_after_the_grace_and_bridges_a_missed_phone() -> None:
    with_phone = parts((1, "person", PERSON_BOX), (9, "cell phone", (440.0, 350.0, 460.0, 380.0)))
    without = parts((1, "person", PERSON_BOX))
    frames = [
        *every(0, 3, 1, with_phone),
        (3, without),
        *every(4, 20, 1, with_phone),
        *every(20, 40, 1, without),
    ]
    hits = feed(phone_rule(), frames)
    assert story(hits) == [("fire", 5.0), ("clear", 20.0)]
    assert hits[1].detail["reason"] == "resolved"


def test_co_occurrence_subject_must_stand_in_the_zone() -> None:
    outside = parts((1, "person", (950.0, 200.0, 1050.0, 500.0)))
    assert feed(gear_rule(), every(0, 30, 1, outside)) == []


# --- fall -------------------------------------------------------------------------------------


def test_fall_fires_per_track_anywhere_and_clears_when_gone() -> None:
    rule = FallRule(config(Fall, min_duration=2), TZ)
    fallen = frame((1, 50, 900), (2, 1500, 200), label="person_fallen")  # outside any zone
    frames = [*every(0, 3, 0.5, frame((1, 50, 900), label="person_fallen")), *every(3, 6, 0.5, fallen)]
    frames += every(6, 20, 0.5, frame((2, 1500, 200), label="person_fallen"))
    hits = feed(rule, frames)
    assert story(hits) == [("fire", 2.0), ("fire", 5.0), ("clear", 6.0)]
    assert [h.tracks for h in hits] == [(1,), (2,), (1,)]
    assert hits[2].key == hits[0].key


def test_fall_ignores_standing_people() -> None:
    rule = FallRule(config(Fall), TZ)
    assert feed(rule, every(0, 30, 1, PERSON)) == []


# --- building the rules of a camera -----------------------------------------------------------


def test_build_rules_from_the_road_example() -> None:
    deployment = load_config(ROOT / "configs" / "road.yaml").deployment
    rules = build_rules(deployment, "shennan-westbound")
    assert [(type(r).__name__, r.id) for r in rules] == [
        ("StationaryRule", "shennan-bus-lane-parking"),
        ("CountRule", "shennan-congestion"),
        ("LineCrossingRule", "shennan-wrong-way"),
    ]
    # A car coming down the picture over the check line drives against the westbound traffic.
    wrong_way = rules[2]
    frames = [(s, frame((11, 1000, y), label="car")) for s, y in [(0, 600), (1, 700), (2, 820), (3, 900)]]
    hits = feed(wrong_way, frames)
    assert story(hits) == [("fire", 2.0), ("clear", 2.0)]
    assert hits[0].line == "shennan-westbound-check"
    away = [(s, frame((12, 1000, y), label="car")) for s, y in [(10, 900), (11, 820), (12, 700), (13, 600)]]
    assert feed(wrong_way, away) == []


@pytest.mark.parametrize("name", ["service_hall.yaml", "road.yaml", "food_plant.yaml"])
def test_every_example_camera_builds(name: str) -> None:
    deployment = load_config(ROOT / "configs" / name).deployment
    for camera in deployment.cameras:
        for rule in build_rules(deployment, camera.id):
            assert rule.camera == camera.id


def small_deployment(
    rule: dict[str, Any], zones: list[dict[str, Any]], lines: list[dict[str, Any]]
) -> Deployment:
    # Built without the loader's reference checks, as a hand-made deployment could be.
    return Deployment.model_validate(
        {
            "name": "test",
            "sites": [{"id": "hall", "name": "hall", "area_code": "320106"}],
            "cameras": [
                {"id": "cam1", "name": "c1", "site": "hall", "url": "rtsp://192.0.2.1/1"},
                {"id": "cam2", "name": "c2", "site": "hall", "url": "rtsp://192.0.2.1/2"},
            ],
            "zones": zones,
            "lines": lines,
            "rules": [{"name": "rule", "camera": "cam1", **rule}],
        }
    )


Z1 = {"id": "z1", "camera": "cam1", "polygon": [[0, 0], [10, 0], [10, 10]]}
Z2 = {"id": "z2", "camera": "cam2", "polygon": [[0, 0], [10, 0], [10, 10]]}
L2 = {"id": "l2", "camera": "cam2", "start": [0, 0], "end": [10, 0]}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"id": "post", "type": "absence", "zone": "nowhere", "max_absence": 60},
         r"rule 'post': zone 'nowhere' is not defined in zones; zones of camera 'cam1': z1"),
        ({"id": "post", "type": "presence", "zone": "z2"},
         r"rule 'post': zone 'z2' is drawn on camera 'cam2', not on the rule's camera 'cam1'"),
        ({"id": "wrong-way", "type": "line_crossing", "line": "l9", "forbidden": "left_to_right"},
         r"rule 'wrong-way': line 'l9' is not defined in lines; lines of camera 'cam1': none"),
        ({"id": "wrong-way", "type": "line_crossing", "line": "l2", "forbidden": "left_to_right"},
         r"rule 'wrong-way': line 'l2' is drawn on camera 'cam2'"),
    ],
)  # fmt: skip
def test_build_rules_names_the_rule_and_what_is_missing(rule: dict[str, Any], message: str) -> None:
    deployment = small_deployment(rule, [Z1, Z2], [L2])
    with pytest.raises(ValueError, match=message):
        build_rules(deployment, "cam1")
    assert build_rules(deployment, "cam2") == []  # the other camera has no rules


def test_build_rules_refuses_an_unknown_camera() -> None:
    deployment = small_deployment({"id": "p", "type": "presence", "zone": "z1"}, [Z1], [])
    with pytest.raises(ValueError, match=r"camera 'cam9' is not defined in cameras; known: cam1, cam2"):
        build_rules(deployment, "cam9")
    (rule,) = build_rules(deployment, "cam1")
    assert isinstance(rule, PresenceRule) and rule.tz == ZoneInfo("Asia/Shanghai")
