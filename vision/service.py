"""The video side of a deployment: capture workers, one detector worker per model (as many
threads as its `workers`), an analyser per camera, camera health into the hub."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from capture.alarms import OfflineAlarms
from capture.frames import Frame
from capture.health import StatusChange
from capture.watchdog import CameraCapture
from capture.worker import WorkerSettings
from hub.config import Deployment
from hub.config.vision import DetectorModel
from hub.events import Event
from hub.sink import HubUnavailable
from vision.analysis import CameraAnalyser, Detect
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


class VisionService:
    """Starts and stops everything the deployment's cameras need.

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
        cameras = [c for c in deployment.cameras if c.enabled]
        self.sink = sink
        self.alarms = OfflineAlarms(deployment)
        self.ingest = CameraCapture(cameras, on_status=self._status, settings=settings, on_tick=self._tick)
        vision = deployment.vision
        used = {c.detect.model for c in cameras if c.detect is not None}
        given = dict(detectors or {})
        self._processes: list[ProcessDetector] = []
        self.detectors = {
            m.id: DetectorWorker(
                given[m.id] if m.id in given else self._load(m),
                max_batch=vision.batch,
                max_wait=vision.batch_wait,
                name=f"detector-{m.id}",
                threads=share_cores(m.workers, m.threads)[0],
            )
            for m in vision.models
            if m.id in used
        }
        self.analysers = {
            c.id: CameraAnalyser(
                deployment,
                c,
                self.ingest.workers[c.id],
                _detect_with(self.detectors[c.detect.model]),
                sink,
            )
            for c in cameras
            if c.detect is not None
        }

    def _load(self, model: DetectorModel) -> Detector:
        """The model in this process, or in `workers` processes of its own when it asks for them."""
        spec = DetectorSpec.of(model)
        if not model.processes:
            return load_detector(spec)
        detector = ProcessDetector(spec, processes=share_cores(model.workers, model.threads)[0])
        self._processes.append(detector)
        return detector

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

    def __enter__(self) -> VisionService:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
