"""PyTorch weights (.pt) as an ONNX model with a dynamic input, built here, once, and kept.

    onnx = rectangular_onnx(resolve_model("pkg:fall_detection/models/best.pt"))

A fixed 640 x 640 export pads every 16:9 picture by 40 %; with a dynamic input onnxruntime runs
a 1080p frame at 640 x 384 and a crop of a zone at the crop's own size, as ultralytics does with
`.pt`. The export needs ultralytics and torch (the vision extra); an edge box without them gets
the file made elsewhere with `offsite vision export`. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

from vision.models import ModelError, data_dir, prepare_ultralytics

log = logging.getLogger(__name__)


def exported_path(weights: Path, folder: Path | None = None) -> Path:
    """Where the dynamic ONNX export of `weights` is kept: named by its content, so new weights
    under the same name get a new file."""
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    return (folder or data_dir() / "models") / f"{weights.stem}-{digest}-dynamic.onnx"


def rectangular_onnx(weights: Path, out: Path | None = None) -> Path:
    """The ONNX export (dynamic batch and input size) of ultralytics weights; made on first use.

    `out` is the file to write (default: `exported_path(weights)`, reused when present). Raises
    `ModelError` when the weights are not a .pt file or ultralytics cannot export them.
    """
    if weights.suffix.lower() != ".pt":
        raise ModelError(f"{weights}: only PyTorch weights (.pt) export to ONNX, not {weights.suffix!r}")
    target = out or exported_path(weights)
    if out is None and target.exists():
        return target
    prepare_ultralytics()
    try:
        from ultralytics.models import YOLO
    except ImportError as exc:
        raise ModelError(
            f"{weights}: exporting to ONNX needs ultralytics and torch (pip install 'offsite[vision]'); "
            f"or export on another machine with `offsite vision export` and point the model's path at it"
        ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(shutil.copy(weights, Path(folder) / weights.name))  # the export is written beside it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                made = YOLO(str(copy), task="detect").export(
                    format="onnx", dynamic=True, simplify=True, verbose=False
                )
            except Exception as exc:  # ultralytics and torch raise many types for a bad file
                raise ModelError(f"{weights}: ultralytics cannot export them to ONNX: {exc}") from exc
        shutil.move(made, target)
    log.info("exported %s to %s (dynamic input)", weights.name, target)
    return target
