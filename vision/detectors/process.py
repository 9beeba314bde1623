"""A detector run in processes of its own, out of the GIL the cameras' threads share.

    detector = ProcessDetector(DetectorSpec("models/person.onnx", threads=1), processes=2)
    found = detector.detect([image])          # from any thread; each call takes a free process

Frames go to a process through shared memory (`multiprocessing.shared_memory`, one block per
process, grown when a batch needs more), never pickled; the boxes come back through its pipe.
A process that dies (killed, out of memory) is started again and the call that was in it is
retried once there, so the cameras carry on; `restarts` counts them. Frigate runs its detector
the same way.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from capture.frames import Image
from vision.detections import Detections
from vision.detectors.base import DetectorSpec, check_images

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0  # seconds a new process may take to import onnxruntime and load the model
CALL_TIMEOUT = 60.0  # seconds one batch may take before its process is given up as hung

Shapes = list[tuple[int, int, int]]
Found = list[tuple[Any, Any, Any, list[str]]]  # per image: xyxy, confidence, class_id, labels


class DetectorDied(RuntimeError):
    """A detector process ended or hung twice on one batch."""


def _serve(spec: DetectorSpec, conn: Connection) -> None:
    """The detector process: load the model, then detect each batch its parent puts in shared memory."""
    from vision.detectors import load_detector

    detector = load_detector(spec)
    conn.send(("ready", detector.names, detector.describe()))
    blocks: dict[str, SharedMemory] = {}
    while True:
        try:
            name, shapes = conn.recv()
        except EOFError:  # the parent is gone
            break
        if name not in blocks:
            for old in blocks.values():
                old.close()
            blocks = {name: SharedMemory(name=name)}
        buffer, offset, images = blocks[name].buf, 0, []
        for shape in shapes:
            size = int(np.prod(shape))
            images.append(np.ndarray(shape, np.uint8, buffer=buffer, offset=offset))
            offset += size
        try:
            found = detector.detect(images)
            conn.send(("ok", [(d.xyxy, d.confidence, d.class_id, d.labels.tolist()) for d in found]))
        except Exception as exc:  # the parent raises it for the batch; the process goes on
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        del images
    for block in blocks.values():
        block.close()


@dataclass
class _Child:
    process: BaseProcess
    conn: Connection
    block: SharedMemory | None = None


class ProcessDetector:
    """`processes` detector processes behind the `Detector` protocol, usable from many threads."""

    def __init__(self, spec: DetectorSpec, processes: int = 1) -> None:
        if processes < 1:
            raise ValueError(f"detector processes must be at least 1, not {processes}")
        self.spec = spec
        self.restarts = 0
        self.names: dict[int, str] = {}
        self._what = ""
        self._context = mp.get_context("spawn")  # no fork of a process with threads running
        self._idle: queue.SimpleQueue[_Child] = queue.SimpleQueue()
        self._children: list[_Child] = []
        self._lock = threading.Lock()
        for _ in range(processes):
            child = self._start()
            self._children.append(child)
            self._idle.put(child)

    def _start(self) -> _Child:
        parent, child_end = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(self.spec, child_end), name="offsite-detector", daemon=True
        )
        process.start()
        child_end.close()
        if not parent.poll(START_TIMEOUT):
            process.kill()
            raise DetectorDied(
                f"detector process for {self.spec.model} did not start in {START_TIMEOUT:.0f} s"
            )
        try:
            _, self.names, self._what = parent.recv()
        except EOFError:
            raise DetectorDied(
                f"detector process for {self.spec.model} ended while loading the model (exit code "
                f"{process.exitcode}); run `offsite vision` with the model in-process to see why"
            ) from None
        log.info("detector process %d started: %s", process.pid, self._what)
        return _Child(process, parent)

    @property
    def pids(self) -> list[int]:
        """The process ids of the detector processes now running."""
        with self._lock:
            return [c.process.pid for c in self._children if c.process.pid is not None]

    def describe(self) -> str:
        return f"{self._what} in {len(self._children)} process(es)"

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        """Objects in each image, detected in a free detector process; see `Detector.detect`."""
        check_images(images)
        if not images:
            return []
        child = self._idle.get()
        try:
            try:
                found = self._call(child, images)
            except DetectorDied as exc:
                log.warning("detector process %s: %s; starting another", child.process.pid, exc)
                child = self._replace(child)
                found = self._call(child, images)
        finally:
            self._idle.put(child)
        return [Detections.build(xyxy, conf, ids, labels) for xyxy, conf, ids, labels in found]

    def _call(self, child: _Child, images: Sequence[Image]) -> Found:
        shapes: Shapes = [(i.shape[0], i.shape[1], i.shape[2]) for i in images]
        need = sum(int(np.prod(s)) for s in shapes)
        if child.block is None or child.block.size < need:
            if child.block is not None:
                child.block.close()
                child.block.unlink()
            child.block = SharedMemory(create=True, size=max(need, 1920 * 1080 * 3))
        offset = 0
        for image in images:
            view = np.ndarray(image.shape, np.uint8, buffer=child.block.buf, offset=offset)
            view[...] = image
            offset += image.nbytes
        try:
            child.conn.send((child.block.name, shapes))
            if not child.conn.poll(CALL_TIMEOUT):
                raise DetectorDied(f"no answer in {CALL_TIMEOUT:.0f} s")
            status, value = child.conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError) as exc:
            raise DetectorDied(f"ended (exit code {child.process.exitcode}): {type(exc).__name__}") from None
        if status != "ok":
            raise RuntimeError(f"detector process {child.process.pid}: {value}")
        found: Found = value
        return found

    def _replace(self, dead: _Child) -> _Child:
        dead.process.kill()
        dead.process.join(5)
        dead.conn.close()
        fresh = self._start()
        fresh.block = dead.block  # the frames' memory outlives the process
        with self._lock:
            self._children[self._children.index(dead)] = fresh
            self.restarts += 1
        return fresh

    def close(self) -> None:
        """End the processes and free their shared memory."""
        with self._lock:
            children, self._children = self._children, []
        for child in children:
            child.conn.close()  # the process sees EOF and ends
            child.process.join(5)
            if child.process.is_alive():
                child.process.kill()
            if child.block is not None:
                child.block.close()
                child.block.unlink()
