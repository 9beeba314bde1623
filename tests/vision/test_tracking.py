"""The tracker over scripted boxes: who gets a track, and when."""

from __future__ import annotations

import pytest

from hub.config.vision import Tracking
from vision.detections import NO_TRACK, Detections
from vision.tracking import Tracker


def person(x: float, conf: float) -> Detections:
    """One person box of 85 x 300 px whose left edge is at `x`."""
    return Detections.build([(x, 390.0, x + 85.0, 690.0)], [conf], [0], ["person"])


@pytest.mark.parametrize(
    ("activation", "confidence", "tracked"),
    [
        (0.35, 0.42, True),  # between the activation and 0.5: once left without a track
        (0.35, 0.36, True),
        (0.6, 0.55, False),  # below a raised activation: no track
        (0.6, 0.7, True),
    ],
)
def test_a_person_seen_at_or_above_the_activation_gets_a_track(
    activation: float, confidence: float, tracked: bool
) -> None:
    tracker = Tracker(Tracking(activation=activation))
    ids = [tracker.update(person(500 + 5 * i, confidence), i * 0.5).tracker_id[0] for i in range(4)]
    assert bool(ids[-1] != NO_TRACK) is tracked, ids
    if tracked:
        assert len({int(i) for i in ids[1:]}) == 1, ids  # one id from the second frame on
