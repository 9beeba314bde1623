"""Detection settings: the models a deployment runs, and what each camera does with their output."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from hub.config.types import Id, Model, Point, Seconds, parse_duration

ClassMap = dict[str, str]
Polygon = Annotated[list[Point], Field(min_length=3, description="Corners, in order")]


class DetectorModel(Model):
    """A detection model file and how to run it."""

    id: Id
    path: str = Field(
        min_length=1,
        description="Model file (.onnx, .pt, .engine, OpenVINO folder), or pkg:MODULE/PATH inside a package",
    )
    backend: Literal["onnxruntime", "openvino", "ultralytics"] = Field(
        default="onnxruntime",
        description="onnxruntime (no torch: edge boxes), openvino (Intel's runtime on the same ONNX file: "
        "pip install 'offsite[openvino]') or ultralytics (torch)",
    )
    device: str = Field(default="cpu", pattern=r"^(cpu|cuda(:\d+)?)$", description="cpu, cuda or cuda:N")
    provider: Literal["tensorrt", "cuda"] | None = Field(
        default=None,
        description="onnxruntime on a cuda device: its TensorRT (FP16 with half) or CUDA execution provider; "
        "default: TensorRT where installed, else CUDA",
    )
    required: bool = Field(
        default=False,
        description="Refuse to start when the device or provider asked for is not there, instead of logging "
        "it and running on the CPU",
    )
    half: bool = Field(default=False, description="Half precision (GPU only)")
    imgsz: int = Field(default=640, ge=32, le=4096, multiple_of=32, description="Network input size")
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Detector threads taking frames from the cameras' shared queue at once; "
        "default: one per core, which fills the box",
    )
    processes: bool = Field(
        default=False,
        description="Run the model in processes of its own (one per worker), fed frames through shared "
        "memory, out of the GIL the cameras share; a process that dies is started again",
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="CPU threads of one detection (onnxruntime, openvino); default: the cores shared out "
        "among the workers",
    )
    hint: Literal["latency", "throughput"] = Field(
        default="latency",
        description="openvino's PERFORMANCE_HINT: latency (one stream per worker, each on its threads) or "
        "throughput (openvino picks streams for the box and runs a batch's frames at once)",
    )
    # 0.7, ultralytics' own default: people side by side in a queue overlap by 0.65 on bus.jpg, and
    # 0.45 would merge them. vision.detectors.DetectorSpec and both backends take it from here.
    iou: float = Field(
        default=0.7, gt=0, le=1, description="Boxes of one class overlapping more than this are merged (NMS)"
    )
    classes: ClassMap = Field(
        default_factory=dict,
        description="Model class name -> domain label (Normal: person); unmapped classes keep their name",
    )

    @model_validator(mode="after")
    def _runtime(self) -> DetectorModel:
        problem = runtime_conflict(self.backend, self.device, self.provider, self.hint)
        if problem:
            raise ValueError(problem)
        return self


def runtime_conflict(backend: str, device: str, provider: str | None, hint: str) -> str | None:
    """What is wrong with this combination of a model's runtime settings, or None."""
    if provider is not None and (backend != "onnxruntime" or device == "cpu"):
        return (
            f"provider {provider!r} is onnxruntime's on a GPU: it needs backend onnxruntime and device cuda "
            f"or cuda:N (here backend {backend}, device {device})"
        )
    if backend == "openvino" and device != "cpu":
        return f"the openvino backend runs on the CPU (device cpu), not on {device!r}"
    if hint != "latency" and backend != "openvino":
        return f"hint {hint!r} is openvino's; backend {backend} has no such setting"
    return None


class Motion(Model):
    """Detect only when the picture changed: a still scene keeps its tracks without running the model."""

    enabled: bool = True
    threshold: float = Field(
        default=0.002, gt=0, lt=1, description="Share of the picture that must change to run detection"
    )
    max_skip: Seconds = Field(
        default=10.0,
        description="Run detection at least this often even in a still scene, and on the whole region this "
        "often when only moving parts are detected (objects that stopped moving are looked at again)",
    )
    crops: bool = Field(
        default=True,
        description="Detect only the parts of the rules' region that moved (each widened to hold a person), "
        "objects elsewhere kept as last seen; the whole region when most of it moved. Needs a model of "
        "dynamic input size (offsite vision export): with a fixed-size one the region is detected whole",
    )


class CameraDetection(Model):
    """What a camera's frames go through: model, class map, filters, masks, motion gating."""

    model: Id = Field(description="Id of a model in vision.models")
    classes: ClassMap | None = Field(
        default=None, description="Model class -> domain label for this camera; the model's map if absent"
    )
    min_confidence: dict[str, float] = Field(
        default_factory=dict,
        description="Per label: lowest confidence kept (default vision.min_confidence); a rule that sets a "
        "lower min_confidence of its own sees down to it",
    )
    min_area: dict[str, float] = Field(
        default_factory=dict, description="Per domain label: smallest box area kept, in pixels"
    )
    masks: list[Polygon] = Field(
        default_factory=list, description="Polygons whose objects are ignored (a clock, a poster, a TV)"
    )
    motion: Motion = Field(default_factory=Motion)
    crop_margin: float | None = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Detect only inside the box around the camera's rules' zones, widened on every side by "
        "this share of the picture's height (people standing in a zone reach above it); null, or a "
        "line-crossing rule on the camera (walkers must be tracked on both sides): the whole picture",
    )

    @model_validator(mode="after")
    def _ranges(self) -> CameraDetection:
        for label, value in self.min_confidence.items():
            if not 0 <= value <= 1:
                raise ValueError(f"min_confidence[{label!r}] must be between 0 and 1, not {value}")
        return self


class Tracking(Model):
    """ByteTrack settings shared by the cameras."""

    lost_after: Seconds = Field(default=5.0, description="A track unseen this long is dropped")
    activation: float = Field(default=0.35, gt=0, le=1, description="Confidence that starts a new track")


class Vision(Model):
    """The video analysis: models, batching, tracking, evidence."""

    models: list[DetectorModel] = Field(default_factory=list)
    min_confidence: float = Field(default=0.35, ge=0, le=1, description="Default lowest confidence kept")
    batch: int = Field(default=8, ge=1, le=64, description="Frames of several cameras detected together")
    batch_wait: Seconds = Field(default=0.02, description="Longest wait to fill a batch")
    tracking: Tracking = Field(default_factory=Tracking)
    clip_before: Seconds = Field(default=5.0, description="Evidence clip: seconds before the finding")
    clip_after: Seconds = Field(default=3.0, description="Evidence clip: seconds after the finding")
    detections_every: Annotated[float, BeforeValidator(parse_duration)] = Field(
        default=5.0,
        ge=0,
        description="Record each track of a label some rule of its camera watches at most this often, "
        "for occupancy and dwell over time (GET /cameras/{id}/occupancy); 0: record none",
    )
    frame_every: Annotated[float, BeforeValidator(parse_duration)] = Field(
        default=5.0,
        ge=0,
        description="Hand each camera's analysed frame, scaled down with its boxes, zones and lines drawn, "
        "to the camera wall (GET /cameras/{id}/frame) at most this often; 0: none",
    )
