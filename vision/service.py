"""The video side of a deployment: capture workers, one detector worker per model (as many
threads as its `workers`), an analyser per camera, camera health into the hub."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from capture.alarms import OfflineAlarms
from capture.frames import Frame
from capture.health import StatusChange
from capture.watchdog import CameraCapture
from capture.worker import CameraWorker, WorkerSettings
from hub.config import Deployment
from hub.config.devices import Camera
from hub.config.rules import Offline
from hub.config.vision import DetectorModel
from hub.events import Event
from hub.sink import HubUnavailable
from vision.analysis import CameraAnalyser, Detect, DetectMany
from vision.batcher import DetectorWorker
from vision.detections import Detections
from vision.detectors import Detector, DetectorSpec, load_detector
from vision.detectors.base import share_cores
from vision.detectors.process import ProcessDetector
from vision.sink import CameraSink

log = logging.getLogger(__name__)

DETECT_TIMEOUT = 30.0  # seconds a frame may wait for the shared detector before it is given up


def _detect_with(worker: DetectorWorker) -> Detect:
    def detect(frame: Frame) -> Detections:
        return worker.submit(frame.image).result(timeout=DETECT_TIMEOUT)

    return detect


def _detect_many_with(worker: DetectorWorker) -> DetectMany:
    """A frame's crops queued together, so that the worker runs them in one batch."""

    def detect(frames: Sequence[Frame]) -> list[Detections]:
        futures = [worker.submit(frame.image) for frame in frames]
        return [future.result(timeout=DETECT_TIMEOUT) for future in futures]

    return detect


def camera_setup(deployment: Deployment, camera: Camera) -> dict[str, Any]:
    """Everything a camera's capture and analysis are built from: two deployments that give a
    camera the same setup analyse it the same way, so a new version need not restart it."""
    model = camera.detect.model if camera.detect is not None else None
    return {
        "camera": camera.model_dump(mode="json"),
        "zones": [z.model_dump(mode="json") for z in deployment.zones if z.camera == camera.id],
        "lines": [x.model_dump(mode="json") for x in deployment.lines if x.camera == camera.id],
        "rules": [
            r.model_dump(mode="json") for r in deployment.rules if getattr(r, "camera", None) == camera.id
        ],
        "model": [m.model_dump(mode="json") for m in deployment.vision.models if m.id == model],
        "vision": deployment.vision.model_dump(mode="json", exclude={"models"}),
        "place": (deployment.timezone, deployment.language),
    }


@dataclass(frozen=True)
class Reconfigured:
    """What `VisionService.reconfigure` did, camera ids in each list."""

    kept: list[str]
    started: list[str]
    restarted: list[str]
    stopped: list[str]


class VisionService:
    """Starts and stops everything the deployment's cameras need, and takes a new version of the
    deployment camera by camera (`reconfigure`).

    `detectors` may hand in loaded detectors by model id (tests, benchmarks); the others are
    loaded from the deployment's `vision.models`.
    """

    def __init__(
        self,
        deployment: Deployment,
        sink: CameraSink,
        settings: WorkerSettings | None = None,
        detectors: Mapping[str, Detector] | None = None,
    ) -> None:
        self.sink = sink
        self.deployment = deployment
        self.alarms = OfflineAlarms(deployment)
        self._settings = settings
        self._given = dict(detectors or {})
        self._loaded: dict[str, tuple[DetectorModel, Detector]] = {}  # model id -> its settings, loaded
        self._pending: dict[str, tuple[DetectorModel, Detector]] = {}  # loaded for the next version
        self._processes: list[ProcessDetector] = []
        self._running = False
        self.ingest = CameraCapture([], on_status=self._status, settings=settings, on_tick=self._tick)
        self.detectors: dict[str, DetectorWorker] = {}
        self.analysers: dict[str, CameraAnalyser] = {}
        self._setups: dict[str, dict[str, Any]] = {}
        self.preload(deployment)
        self._take_preloaded(deployment)
        for camera in self._cameras(deployment):
            self._add(deployment, camera)
        self.ingest.watchdog.workers = list(self.ingest.workers.values())

    @staticmethod
    def _cameras(deployment: Deployment) -> list[Camera]:
        return [c for c in deployment.cameras if c.enabled]

    def preload(self, deployment: Deployment) -> None:
        """Load the models `deployment`'s cameras use that are not loaded with the same settings
        yet (raises as loading does: a version this box cannot run fails here, nothing stopped).
        They wait beside the running ones until `reconfigure` takes them."""
        for model in self._used(deployment):
            running, waiting = self._loaded.get(model.id), self._pending.get(model.id)
            if (running is None or running[0] != model) and (waiting is None or waiting[0] != model):
                given = self._given.get(model.id)
                self._pending[model.id] = (model, given if given is not None else self._load(model))

    def _used(self, deployment: Deployment) -> list[DetectorModel]:
        used = {c.detect.model for c in self._cameras(deployment) if c.detect is not None}
        return [m for m in deployment.vision.models if m.id in used]

    def _take_preloaded(self, deployment: Deployment) -> None:
        """The preloaded models `deployment` uses replace the running ones (whose cameras were
        stopped, their setup having changed with the model); the others are dropped."""
        for model in self._used(deployment):
            waiting = self._pending.get(model.id)
            if waiting is not None and waiting[0] == model:
                self._loaded[model.id] = waiting
        self._pending.clear()

    def _load(self, model: DetectorModel) -> Detector:
        """The model in this process, or in `workers` processes of its own when it asks for them."""
        spec = DetectorSpec.of(model)
        if not model.processes:
            return load_detector(spec)
        detector = ProcessDetector(spec, processes=share_cores(model.workers, model.threads)[0])
        self._processes.append(detector)
        return detector

    def _detector(self, deployment: Deployment, model_id: str) -> DetectorWorker:
        """The running worker of `model_id`, started on its loaded detector when it is new."""
        worker = self.detectors.get(model_id)
        model, detector = self._loaded[model_id]
        vision = deployment.vision
        batching = (vision.batch, vision.batch_wait)
        if (
            worker is not None
            and worker.detector is detector
            and (worker.max_batch, worker.max_wait) == batching
        ):
            return worker
        if worker is not None:  # its cameras were stopped before: the new settings replace it
            worker.stop()
        worker = DetectorWorker(
            detector,
            max_batch=vision.batch,
            max_wait=vision.batch_wait,
            name=f"detector-{model_id}",
            threads=share_cores(model.workers, model.threads)[0],
        )
        self.detectors[model_id] = worker
        if self._running:
            worker.start()
        return worker

    def _add(self, deployment: Deployment, camera: Camera) -> None:
        worker = CameraWorker(camera, self._status, self._settings)
        self.ingest.workers[camera.id] = worker
        self._setups[camera.id] = camera_setup(deployment, camera)
        if camera.detect is not None:
            shared = self._detector(deployment, camera.detect.model)
            self.analysers[camera.id] = CameraAnalyser(
                deployment,
                camera,
                worker,
                _detect_with(shared),
                self.sink,
                detect_many=_detect_many_with(shared),
                # An ONNX file of fixed input size enlarges each part to a whole run: the region it is.
                parts=not getattr(shared.detector, "fixed_size", False),
            )

    def _remove(self, camera: str, reason: str) -> None:
        analyser = self.analysers.pop(camera, None)
        if analyser is not None and self._running:  # one never started has nothing open
            analyser.stop(end=reason)
        self.ingest.workers.pop(camera).stop()
        del self._setups[camera]

    def reconfigure(self, deployment: Deployment) -> Reconfigured:
        """Run `deployment` from now on: a camera whose setup (`camera_setup`) did not change keeps
        its capture, analyser and rules' state; one removed or disabled stops and one changed
        restarts, each clearing its findings still open; one added starts. Models are loaded
        once (see `preload`) and a detector no camera uses any more is stopped."""
        self.preload(deployment)
        cameras = {c.id: c for c in self._cameras(deployment)}
        kept = [
            c
            for c in self._setups
            if c in cameras and self._setups[c] == camera_setup(deployment, cameras[c])
        ]
        stopped = [c for c in self._setups if c not in cameras]
        restarted = [c for c in self._setups if c in cameras and c not in kept]
        started = [c for c in cameras if c not in self._setups]
        for camera in stopped:
            self._remove(camera, "camera_removed")
        for camera in restarted:
            self._remove(camera, "camera_changed")
        self._take_preloaded(deployment)
        offline = [r for r in deployment.rules if isinstance(r, Offline)]
        if offline != [r for r in self.deployment.rules if isinstance(r, Offline)]:
            self.alarms = OfflineAlarms(deployment)
        self.deployment = deployment
        for camera in restarted + started:
            self._add(deployment, cameras[camera])
            if self._running:
                self.ingest.workers[camera].start()
                if camera in self.analysers:
                    self.analysers[camera].start()
        self.ingest.watchdog.workers = list(self.ingest.workers.values())  # a new list: it iterates the old
        self._retire_detectors()
        return Reconfigured(kept, started, restarted, stopped)

    def _retire_detectors(self) -> None:
        """Stop the detector workers no analyser uses any more, and close the model processes
        neither a worker nor the loaded models hold."""
        used = {a.camera.detect.model for a in self.analysers.values() if a.camera.detect is not None}
        for model_id in [m for m in self.detectors if m not in used]:
            self.detectors.pop(model_id).stop()
        for model_id in [m for m in self._loaded if m not in used]:
            del self._loaded[model_id]
        held = {id(w.detector) for w in self.detectors.values()} | {id(d) for _, d in self._loaded.values()}
        for detector in [d for d in self._processes if id(d) not in held]:
            self._processes.remove(detector)
            detector.close()

    def _status(self, change: StatusChange) -> None:
        self.sink.camera_status(change)
        self._raise(self.alarms.change(change))

    def _tick(self) -> None:
        self._raise(self.alarms.due(datetime.now(UTC)))

    def _raise(self, events: list[Event]) -> None:
        if not events:
            return
        try:
            self.sink.take(events)
        except HubUnavailable as exc:
            log.warning("camera status events lost, the hub is away: %s", exc)

    def start(self) -> None:
        self._running = True
        for worker in self.detectors.values():
            worker.start()
        self.ingest.start()
        for analyser in self.analysers.values():
            analyser.start()

    def finished(self) -> bool:
        """True once every camera is a file that played to its end and its last frame was taken."""
        workers = self.ingest.workers.values()
        return bool(workers) and all(w.ended and not len(w.queue) for w in workers)

    def stop(self) -> None:
        for analyser in self.analysers.values():
            analyser.stop()
        self.ingest.stop()
        for worker in self.detectors.values():
            worker.stop()
        for detector in self._processes:
            detector.close()
        self._running = False

    def __enter__(self) -> VisionService:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
