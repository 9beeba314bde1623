"""One camera's analysis: frames -> (motion gate) -> detections -> tracks -> rule hits -> events.

Each camera has a thread of its own that takes the newest frame from its capture worker, asks the
shared detector worker for boxes when the picture moved (only around its rules' zones, and there
only the parts that moved, see `vision.region`), tracks, runs the camera's rules and turns their
hits into hub events with evidence: the annotated picture at once, the clip from a few seconds
before to a few seconds after once those seconds have been filmed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import JsonValue

from capture.clip import ClipError
from capture.frames import Frame
from capture.worker import CameraWorker
from hub.config import Deployment
from hub.config.devices import Camera
from hub.config.rules import CameraRule, Stationary
from hub.config.vision import CameraDetection, DetectorModel
from hub.events import Event
from hub.store.camera_frames import CameraFrame
from vision.detections import NO_TRACK, Detections, Floats, Labels, box_iou
from vision.evidence import annotate, to_jpeg
from vision.motion import MotionGate, WatchedRegion
from vision.region import Crop, Region, cut
from vision.rules import Hit, VisionRule, build_rules
from vision.sink import CameraSink, DetectionRecorder, DetectionSampler, FrameRecorder
from vision.tracking import Tracker
from vision.wall import wall_picture
from vision.zones import PolygonZone

log = logging.getLogger(__name__)

# The shared detector: a frame's boxes, labelled with model names. The frame's picture is already
# at the model's scale (a crop, see vision.region): a detector should not enlarge it.
Detect = Callable[[Frame], Detections]
# Several crops of one frame in one call (a shared detector worker batches them); one per crop.
DetectMany = Callable[[Sequence[Frame]], list[Detections]]
# A box seen last time is looked for again when this share of it lies in a part just detected;
# otherwise (a still object outside every moving part) it is kept as it was.
_REDETECTED = 0.5
_EVENT_ID = re.compile(r"^[\w.:@-]{1,128}$")


@dataclass
class AnalysisStats:
    frames: int = 0
    detected: int = 0  # frames that went to the detector (the rest: no motion, or none where it matters)
    crops: int = 0  # pictures the detector was given: a frame's moving parts count one each
    pixels: int = 0  # their pixels, at the detector's scale: what the detections cost
    events: int = 0
    clips: int = 0
    errors: int = 0
    last_error: str = ""
    # Seconds from a frame's decoding to its event stored, and to the end of its analysis (the last
    # 10,000 of each, for /metrics and the benchmark).
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))


@dataclass(frozen=True)
class _PendingClip:
    due: float  # monotonic
    event_id: str
    start: datetime
    end: datetime


class Labeller:
    """Model output -> the camera's domain: class map, per-label confidence and area, masks.

    A rule that sets its own `min_confidence` below the camera's filter sees down to its own: its
    labels are kept down to the lowest such rule. The other rules see what the camera's filter
    keeps (`camera_keeps`), so a rule's own setting never widens what another rule sees.
    """

    def __init__(
        self,
        detect: CameraDetection,
        model: DetectorModel,
        default_confidence: float,
        rules: Sequence[VisionRule[CameraRule]] = (),
    ) -> None:
        self.classes = detect.classes if detect.classes is not None else model.classes
        self.min_confidence = detect.min_confidence
        self.min_area = detect.min_area
        self.default_confidence = default_confidence
        self.masks = [PolygonZone(m) for m in detect.masks]
        self.own_threshold = {r.id for r in rules if "min_confidence" in r.config.model_fields_set}
        self.lowered: dict[str, float] = {}  # label -> the lowest min_confidence a rule set for it
        for rule in rules:
            if rule.id in self.own_threshold:
                for label in rule.labels():
                    self.lowered[label] = min(self.lowered.get(label, 1.0), rule.config.min_confidence)

    @staticmethod
    def _per_label(labels: Labels, values: dict[str, float], default: float) -> Floats:
        return np.asarray([values.get(str(x), default) for x in labels], np.float32)

    def camera_keeps(self, detections: Detections) -> npt.NDArray[np.bool_]:
        """Which detections pass the camera's own confidence filter."""
        floor = self._per_label(detections.labels, self.min_confidence, self.default_confidence)
        return np.asarray(detections.confidence >= floor, np.bool_)

    def for_rule(self, rule: VisionRule[CameraRule], detections: Detections) -> Detections:
        """What `rule` is shown: everything kept when it set its own threshold, else the camera's filter."""
        if rule.id in self.own_threshold or not self.lowered:
            return detections
        return detections[self.camera_keeps(detections)]

    def __call__(self, found: Detections) -> Detections:
        labelled = found.with_labels([self.classes.get(str(name), str(name)) for name in found.labels])
        if not len(labelled):
            return labelled
        lowered = self._per_label(labelled.labels, self.lowered, 1.0)
        keep = self.camera_keeps(labelled) | (labelled.confidence >= lowered)
        keep &= labelled.area >= self._per_label(labelled.labels, self.min_area, 0.0)
        for mask in self.masks:
            keep &= ~mask.trigger(labelled)
        return labelled[keep]


def seen(tracked: Detections, hit: Hit) -> list[JsonValue]:
    """The detections of a finding's frame for its event: label, box (pixels), confidence, track,
    and whether the finding is about it (its track, or a box the rule named)."""
    boxes = {tuple(round(v, 1) for v in box) for box in hit.boxes}
    out: list[JsonValue] = []
    for box, label, track, conf in zip(
        tracked.xyxy, tracked.labels, tracked.tracker_id, tracked.confidence, strict=True
    ):
        xyxy = [round(float(v), 1) for v in box]
        about = (track != NO_TRACK and int(track) in hit.tracks) or tuple(xyxy) in boxes
        confidence = round(float(conf), 3)
        entry: dict[str, JsonValue] = {"label": str(label), "box": list(xyxy), "confidence": confidence}
        out.append(entry | {"track": int(track), "hit": bool(about)})
    return out


def _since(moment: datetime) -> float:
    return (datetime.now(moment.tzinfo) - moment).total_seconds()


def event_id(camera: str, key: str, what: str) -> str:
    """A stable, valid event id for a hit: readable when the key allows, hashed when it does not."""
    candidate = f"v:{camera}:{key}:{what}"
    if _EVENT_ID.match(candidate):
        return candidate
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"v:{camera}:{digest}:{what}"


def _inside(detections: Detections, boxes: Sequence[tuple[int, int, int, int]]) -> npt.NDArray[np.bool_]:
    """Which `detections` lie at least `_REDETECTED` inside one of `boxes`."""
    if not len(detections) or not boxes:
        return np.zeros(len(detections), np.bool_)
    parts = np.asarray(boxes, np.float32)
    xyxy = detections.xyxy
    lt = np.maximum(xyxy[:, None, :2], parts[None, :, :2])
    rb = np.minimum(xyxy[:, None, 2:], parts[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2).max(axis=1)
    return np.asarray(inter >= _REDETECTED * np.maximum(detections.area, 1e-9), np.bool_)


def _one_each(found: Detections, iou: float) -> Detections:
    """`found` without the boxes that overlap a better one of their label by more than `iou`: an
    object in the margin two crops share is seen in both."""
    order = np.argsort(-found.confidence, kind="stable")
    found = found[order]
    same = (box_iou(found.xyxy, found.xyxy) > iou) & (found.labels[:, None] == found.labels[None, :])
    keep = np.ones(len(found), np.bool_)
    for i in range(len(found)):
        if keep[i]:
            keep[i + 1 :] &= ~same[i, i + 1 :]
    return found[keep]


class CameraAnalyser:
    """The analysis thread of one camera.

    `detect_many` sends the moving parts of a frame together (a shared worker batches them);
    `parts` False detects the rules' region whole even where `motion.crops` asks for its moving
    parts: a detector of fixed input size enlarges each part to a whole run.
    """

    def __init__(
        self,
        deployment: Deployment,
        camera: Camera,
        worker: CameraWorker,
        detect: Detect,
        sink: CameraSink,
        rules: Sequence[VisionRule[CameraRule]] | None = None,
        detect_many: DetectMany | None = None,
        parts: bool = True,
    ) -> None:
        if camera.detect is None:
            raise ValueError(f"camera {camera.id!r} has no detect section")
        models = {m.id: m for m in deployment.vision.models}
        self.camera = camera
        self.worker = worker
        self.sink = sink
        self.settings = deployment.vision
        self.tz = deployment.tz
        self.language = deployment.language
        self.rules = list(rules) if rules is not None else build_rules(deployment, camera.id)
        self.labeller = Labeller(
            camera.detect, models[camera.detect.model], self.settings.min_confidence, self.rules
        )
        self.tracker = Tracker(self.settings.tracking)
        self.recorder = sink if isinstance(sink, DetectionRecorder) else None
        watched = {label for rule in self.rules for label in rule.labels()}
        self.sampler = DetectionSampler(camera.id, self.settings.detections_every, watched)
        self.framer = sink if isinstance(sink, FrameRecorder) and self.settings.frame_every > 0 else None
        self._framed = float("-inf")  # camera clock of the last frame handed to the wall
        self.zones = {z.id: z.polygon for z in deployment.zones if z.camera == camera.id}
        self.gate = MotionGate(camera.detect.motion, self._watched())
        self.lines = {x.id: (x.start, x.end) for x in deployment.lines if x.camera == camera.id}
        self.imgsz = models[camera.detect.model].imgsz
        self.iou = models[camera.detect.model].iou
        self._regions: dict[tuple[int, int], Region] = {}  # picture (height, width) -> where to detect
        self.stats = AnalysisStats()
        self._detect = detect
        self._detect_many = detect_many
        self.parts = parts and camera.detect.motion.crops  # moving parts detected alone
        self._last = Detections.empty()  # what the detector saw last, reused while nothing moves
        self._active: dict[str, set[str]] = {}  # rule -> keys of its occurrences still going on
        self._clips: list[_PendingClip] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"analysis-{camera.id}", daemon=True)

    def _watched(self) -> list[WatchedRegion]:
        """The zones of the camera's stationary rules: the gate must show their `max_movement`."""
        out = []
        for rule in self.rules:
            config = rule.config
            if isinstance(config, Stationary) and config.zone in self.zones:
                xs, ys = zip(*self.zones[config.zone], strict=True)
                box = (int(min(xs)), int(min(ys)), int(np.ceil(max(xs))), int(np.ceil(max(ys))))
                out.append(WatchedRegion(box, config.max_movement))
        return out

    def region(self, height: int, width: int) -> Region:
        """Where this camera's pictures of this size are detected: around its rules' zones."""
        if (height, width) not in self._regions:
            margin = self.camera.detect.crop_margin if self.camera.detect else None
            picture = (height, width)
            self._regions[picture] = Region.of(self.rules, self.zones, margin, picture)
        return self._regions[height, width]

    @property
    def seen(self) -> Detections:
        """The boxes of the last detection, with the still ones it kept (what the tracker is fed)."""
        return self._last

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0, end: str = "") -> None:
        """Stop the thread and save the clips due; with `end` (a reason), also clear the findings
        still open, since nothing will analyse this camera as it was again."""
        self._stopped.set()
        self._thread.join(timeout)
        if end:
            at = datetime.now(UTC)
            try:
                for hit in [hit for rule in self.rules for hit in rule.end(at, end)]:
                    self._deliver(hit, None, Detections.empty())
            except Exception:  # a stop must go through whatever the sink says
                log.exception("camera %s: findings not cleared", self.camera.id)
        self._save_clips(force=True)
        if self.recorder is not None:
            self.recorder.flush()

    def _run(self) -> None:
        while not self._stopped.is_set():
            frame = self.worker.queue.get(timeout=0.5)
            try:
                if frame is not None:
                    self.process(frame)
                self._save_clips()
            except Exception as exc:  # one bad frame or a hub hiccup must not end the camera's analysis
                log.exception("camera %s: analysis failed", self.camera.id)
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"

    def process(self, frame: Frame) -> list[Hit]:
        """Analyse one frame; returns the rule hits it caused (already delivered to the sink)."""
        self.stats.frames += 1
        if self.gate.should_detect(frame.image, frame.time.timestamp()):
            self._last = self._look(frame)
        tracked = self.tracker.update(self._last, frame.time.timestamp())
        if self.recorder is not None:  # every frame: a quiet scene still writes what waits
            self.recorder.record(self.sampler(frame.time, tracked))
        hits = [
            hit
            for rule in self.rules
            for hit in rule.update(self.labeller.for_rule(rule, tracked), frame.time)
        ]
        for hit in hits:
            self._deliver(hit, frame, tracked)
        now = frame.time.timestamp()
        if self.framer is not None and abs(now - self._framed) >= self.settings.frame_every:
            self._framed = now  # encoded only when due: a JPEG costs milliseconds
            self._to_wall(frame, tracked, self.framer)
        self.stats.lags.append(_since(frame.time))
        return hits

    def _to_wall(self, frame: Frame, tracked: Detections, framer: FrameRecorder) -> None:
        """Hand the camera wall this frame, scaled down, with the boxes, zones and lines drawn."""
        jpeg, width, height = wall_picture(
            frame.image,
            tracked,
            title=self.camera.name,
            at=frame.time.astimezone(self.tz),
            zones=self.zones,
            lines=self.lines,
            language=self.language,
        )
        framer.frame(CameraFrame(self.camera.id, frame.time, jpeg, width, height))

    def _look(self, frame: Frame) -> Detections:
        """Detect in the camera's region, or only in its parts that moved: the boxes seen there
        replace those seen before, the boxes elsewhere (a still clerk) stay as they were."""
        picture = (frame.image.shape[0], frame.image.shape[1])
        region = self.region(*picture)
        moving = self.gate.moving
        parts = region.parts(moving, picture) if self.parts and moving is not None else [region]
        crops = cut(frame.image, [part.box for part in parts], self.imgsz)
        found = self.labeller(self._detect_crops(frame, crops))
        if parts == [region]:
            return found
        kept = self._last[~_inside(self._last, [crop.box for crop in crops])]
        return Detections.merge([found, kept])

    def _detect_crops(self, frame: Frame, crops: list[Crop]) -> Detections:
        """The boxes in `crops` of `frame`, in the frame's pixels; one box where crops overlap."""
        self.stats.detected += bool(crops)
        self.stats.crops += len(crops)
        self.stats.pixels += sum(c.image.shape[0] * c.image.shape[1] for c in crops)
        frames = [replace(frame, image=c.image) for c in crops]
        if self._detect_many is not None and len(frames) > 1:
            results = self._detect_many(frames)
        else:
            results = [self._detect(f) for f in frames]
        found = Detections.merge([c.restore(r) for c, r in zip(crops, results, strict=True)])
        if len(crops) == 1 or not len(found):
            return found
        return _one_each(found, self.iou)

    def _deliver(self, hit: Hit, frame: Frame | None, tracked: Detections) -> None:
        """Send `hit` as an event; `frame`, the picture it was seen on, only a clear may lack."""
        active = self._active.setdefault(hit.rule, set())
        key = hit.key or f"{hit.rule}:{hit.time:%Y%m%dT%H%M%S.%f}"
        payload = {**hit.detail, "tracks": list(hit.tracks)}
        if self.camera.detect is not None:  # the figures per model (GET /statistics) read it
            payload["model"] = self.camera.detect.model
        if hit.zone:
            payload["zone"] = hit.zone
        if hit.line:
            payload["line"] = hit.line
        evidence: list[str] = []
        if hit.cleared:
            active.discard(key)
            if active:
                return  # another occurrence of the rule goes on: its alert stays open
        else:
            assert frame is not None, "a finding fires on a frame"
            active.add(key)
            rule = next(r.config for r in self.rules if r.config.id == hit.rule)
            picture = annotate(
                frame.image,
                tracked,
                title=f"{rule.name} · {self.camera.name}",
                at=hit.time.astimezone(self.tz),
                hit_tracks=hit.tracks,
                hit_boxes=hit.boxes,
                zone=self.zones.get(hit.zone) if hit.zone else None,
                line=self.lines.get(hit.line) if hit.line else None,
                language=self.language,
            )
            evidence.append(self.sink.keep(to_jpeg(picture), "image/jpeg"))
            # The frame as the camera gave it and what was seen on it, kept beside the evidence
            # (not cited by it): judged later, it is a training example (`offsite dataset export`).
            height, width = frame.image.shape[:2]
            raw = self.sink.keep(to_jpeg(frame.image, quality=90), "image/jpeg")
            payload["frame"] = {"sha256": raw, "width": width, "height": height}
            payload["detections"] = seen(tracked, hit)
        event = Event(
            id=event_id(self.camera.id, key, "clear" if hit.cleared else "fire"),
            source=f"camera:{self.camera.id}",
            site=self.camera.site,
            rule=hit.rule,
            time=hit.time,
            cleared=hit.cleared,
            object=self.camera.object,
            payload=payload,
            evidence=evidence,
        )
        (delivery,) = self.sink.take([event])
        self.stats.events += 1
        if frame is not None:
            self.stats.latencies.append(_since(frame.time))
        if delivery.alerting and not event.cleared:
            before = timedelta(seconds=self.settings.clip_before)
            after = timedelta(seconds=self.settings.clip_after)
            due = time.monotonic() + self.settings.clip_after
            self._clips.append(_PendingClip(due, event.id, hit.time - before, hit.time + after))

    def _save_clips(self, force: bool = False) -> None:
        now = time.monotonic()
        due = [c for c in self._clips if force or c.due <= now]
        self._clips = [c for c in self._clips if c not in due]
        for clip in due:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "clip.mp4"
                try:
                    self.worker.save_clip(clip.start, clip.end, path)
                except ClipError as exc:
                    log.info("camera %s: no clip for %s: %s", self.camera.id, clip.event_id, exc)
                    continue
                sha = self.sink.keep(path.read_bytes(), "video/mp4")
            self.sink.attach(clip.event_id, [sha])
            self.stats.clips += 1
