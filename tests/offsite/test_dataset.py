"""`offsite dataset export` as a user runs it: judged camera findings become a YOLO dataset that
ultralytics trains on; a false alarm's wrong boxes are left out, unjudged findings are absent, a
frame whose file is gone is skipped and counted; a used folder or a bad period is one line."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from hub import alerts, clues
from hub.config import Settings, load_config
from hub.events import Event
from hub.evidence import EvidenceStore
from hub.runtime import Hub
from tests.conftest import REPO, Server
from tests.hub.feed import HALL, QUEUE
from tests.offsite.command import offsite
from vision.evidence import to_jpeg
from vision.models import prepare_ultralytics

DEMO = REPO / "configs" / "demo.yaml"
PERSON, FALLEN = 0, 1  # the demo model's class map: {Normal: person, Fall: person_fallen}


def frame(width: int, height: int, shade: int) -> bytes:
    """A camera frame: a grey scene with two light figures."""
    image = np.full((height, width, 3), shade, np.uint8)
    cv2.rectangle(image, (width // 10, height // 4), (width // 4, height - 20), (230, 230, 230), -1)
    cv2.rectangle(image, (width // 2, height // 5), (width * 2 // 3, height // 2), (200, 210, 220), -1)
    return to_jpeg(image, quality=90)


def seen(label: str, box: list[float], hit: bool, track: int) -> dict[str, Any]:
    return {"label": label, "box": box, "confidence": 0.8, "track": track, "hit": hit}


@dataclass(frozen=True)
class Seeded:
    env: dict[str, str]
    folder: Path  # where the command runs: its var/evidence is the deployment's evidence store
    alerts: dict[str, int]  # dismissed, confirmed, unjudged, false_alarm, missing
    shas: dict[str, str]
    times: dict[str, datetime]


@pytest.fixture(scope="module")
def seeded(timescaledb_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """The demo deployment after five camera findings, each with its frame and detections as the
    analysis sends them: one dismissed, one confirmed by the hall office, one unjudged, one fed
    back as a false alarm, and one dismissed whose frame file is gone."""
    folder = tmp_path_factory.mktemp("dataset")
    store = EvidenceStore(folder / "var" / "evidence")
    dsn = timescaledb_server.create_database()
    hub = Hub.start(load_config(DEMO), Settings(data_dir=folder / "data"), dsn=dsn)
    start = hub.pipeline.clock() - timedelta(hours=4)
    plan: list[tuple[str, dict[str, str], int, tuple[int, int], list[dict[str, Any]]]] = [
        ("dismissed", QUEUE, 0, (1280, 720), [
            seen("person", [640, 360, 800, 720], True, 7),
            seen("person", [960, 360, 1120, 648], False, 8),
            seen("person_fallen", [1120, 600, 1300, 700], False, 9),  # partly outside: clipped
        ]),
        ("confirmed", HALL, 30, (640, 480), [
            seen("person", [64, 120, 320, 456], True, 3),
            seen("person", [400, 96, 496, 288], False, 4),
        ]),
        ("unjudged", QUEUE, 60, (1280, 720), [seen("person", [10, 10, 110, 210], True, 5)]),
        ("false_alarm", HALL, 90, (640, 480), [seen("person", [100, 100, 300, 400], True, 11)]),
        ("missing", QUEUE, 150, (1280, 720), [seen("person", [10, 10, 110, 210], False, 6)]),
    ]  # fmt: skip
    ids: dict[str, int] = {}
    shas: dict[str, str] = {}
    times: dict[str, datetime] = {}
    try:
        for n, (name, base, minutes, (width, height), detections) in enumerate(plan):
            image = frame(width, height, 60 + 20 * n)
            shas[name] = store.put(image)
            if name == "missing":  # removed since, as retention or a cleanup would
                store.path(shas[name]).unlink()
            at = times[name] = start + timedelta(minutes=minutes)
            payload = {
                "model": "person",
                "frame": {"sha256": shas[name], "width": width, "height": height},
                "detections": detections,
            }
            taken = hub.take(
                Event.model_validate({"id": f"ds-{name}", "time": at, **base, "payload": payload})
            )
            assert taken.alert_id is not None, name
            ids[name] = taken.alert_id
            later = at + timedelta(minutes=5)
            with hub.db.transaction() as conn:
                if name in ("dismissed", "missing"):
                    alerts.dismiss(conn, taken.alert_id, "duty:wang", later, "a coat on the chair")
                elif name in ("confirmed", "false_alarm"):  # the hall office's clue of a window finding
                    assert taken.clue_id is not None
                    clues.claim(conn, taken.clue_id, "hall-office:li", later, department="hall-office")
                    clues.handle(conn, taken.clue_id, "hall-office:li", later, department="hall-office")
                    clues.feed_back(
                        conn,
                        taken.clue_id,
                        "hall-office:li",
                        later,
                        name,
                        "checked",
                        department="hall-office",
                    )
                    alerts.close(conn, taken.alert_id, "duty:wang", later)
                else:
                    alerts.close(conn, taken.alert_id, "duty:wang", later)
    finally:
        hub.close()
    env = {
        **os.environ,
        "OFFSITE_DATABASE_URL": dsn,
        "OFFSITE_DATA_DIR": str(folder / "data"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    yield Seeded(env, folder, ids, shas, times)
    timescaledb_server.drop_database(dsn)


@pytest.fixture(scope="module")
def exported(seeded: Seeded) -> Path:
    out = seeded.folder / "out"
    done = offsite(seeded.env, seeded.folder, "dataset", "export", "-c", str(DEMO), "--out", "out")
    assert done.returncode == 0, done.stdout + done.stderr
    train = sum(r["split"] == "train" for r in manifest(out))
    assert done.stdout.strip().splitlines()[-1] == (
        f"已导出 3 帧（训练 {train}，验证 {3 - train}）：确认 1，误报 2；1 帧的图像文件缺失，已跳过"
    )
    return out


def manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_layout_labels_and_manifest(seeded: Seeded, exported: Path) -> None:
    ids, store = seeded.alerts, EvidenceStore(seeded.folder / "var" / "evidence")
    data = yaml.safe_load((exported / "data.yaml").read_text(encoding="utf-8"))
    assert data == {
        "path": str(exported),
        "train": "images/train",
        "val": "images/val",
        "names": {PERSON: "person", FALLEN: "person_fallen"},
    }
    rows = manifest(exported)
    assert [
        (r["alert"], r["camera"], r["rule"], r["verdict"], r["model"], r["labels"], r["dropped"])
        for r in rows
    ] == [
        (str(ids["dismissed"]), "hall-waiting", "hall-queue", "false_alarm", "person", "2", "1"),
        (str(ids["confirmed"]), "hall-window-1", "window-absence", "confirmed", "person", "2", "0"),
        (str(ids["false_alarm"]), "hall-window-1", "window-absence", "false_alarm", "person", "0", "1"),
    ]  # the unjudged finding is absent, the one whose frame is gone skipped
    labels: dict[str, list[str]] = {}
    for row, name in zip(rows, ("dismissed", "confirmed", "false_alarm"), strict=True):
        local = datetime.fromisoformat(row["time"])
        assert local == seeded.times[name] and local.utcoffset() == timedelta(hours=8)  # Asia/Shanghai
        assert row["image"] == f"images/{row['split']}/alert-{row['alert']}.jpg"
        assert (exported / row["image"]).read_bytes() == store.read(
            seeded.shas[name]
        )  # as the camera gave it
        labels[name] = (
            (exported / "labels" / row["split"] / f"alert-{row['alert']}.txt").read_text().splitlines()
        )
    assert {r["split"] for r in rows} == {"train", "val"}
    assert sorted(p.relative_to(exported).as_posix() for p in exported.glob("images/*/*")) == sorted(
        r["image"] for r in rows
    )

    # Dismissed: the box the finding was about dropped; the others kept, one clipped to the frame.
    assert labels["dismissed"] == [
        f"{PERSON} 0.812500 0.700000 0.125000 0.400000",
        f"{FALLEN} 0.937500 0.902778 0.125000 0.138889",
    ]
    # Confirmed: every detection.
    assert labels["confirmed"] == [
        f"{PERSON} 0.300000 0.600000 0.400000 0.700000",
        f"{PERSON} 0.700000 0.400000 0.150000 0.400000",
    ]
    # Fed back as a false alarm: nothing is there (a background image).
    assert labels["false_alarm"] == []


def test_one_camera_and_refusals(seeded: Seeded, exported: Path) -> None:
    env, cwd = seeded.env, seeded.folder
    done = offsite(
        env, cwd, "dataset", "export", "-c", str(DEMO), "--out", "window", "--camera", "hall-window-1"
    )
    assert done.returncode == 0, done.stderr
    assert [r["alert"] for r in manifest(cwd / "window")] == [
        str(seeded.alerts[name]) for name in ("confirmed", "false_alarm")
    ]

    again = offsite(env, cwd, "dataset", "export", "-c", str(DEMO), "--out", "again")
    assert again.returncode == 0, again.stderr
    assert manifest(cwd / "again") == manifest(exported)  # the same split, labels and order each time
    for labels in exported.glob("labels/*/*.txt"):
        assert (cwd / "again" / labels.relative_to(exported)).read_bytes() == labels.read_bytes()

    today = seeded.times["confirmed"].astimezone(load_config(DEMO).deployment.tz).date()
    backwards = ("--since", str(today), "--until", str(today - timedelta(days=1)))
    for args, message in [
        (("--out", "out"), "--out: out is not empty: give a new or empty folder"),
        (("--out", "new", *backwards), f"--since/--until: from ({today}) is after to"),
        (("--out", "new", "--camera", "gate"), "--camera: no camera 'gate'"),
    ]:
        refused = offsite(env, cwd, "dataset", "export", "-c", str(DEMO), *args)
        assert refused.returncode == 2 and refused.stderr.startswith(message), refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    assert not (cwd / "new").exists()


def test_the_dataset_trains(seeded: Seeded, exported: Path) -> None:
    """One epoch of a YOLOv8n built from its yaml (random weights, nothing downloaded) on CPU."""
    prepare_ultralytics(seeded.folder / "data")
    from ultralytics.models import YOLO

    model = YOLO("yolov8n.yaml")
    model.train(
        data=str(exported / "data.yaml"),
        epochs=1,
        imgsz=64,
        batch=4,
        device="cpu",
        workers=0,
        plots=False,
        amp=False,
        verbose=False,
        project=str(seeded.folder / "runs"),
        name="finetune",
    )
    trainer = model.trainer
    assert trainer is not None and trainer.data["names"] == {PERSON: "person", FALLEN: "person_fallen"}
    read = {
        split: loader.dataset
        for split, loader in (("train", trainer.train_loader), ("val", trainer.test_loader))
    }
    rows = manifest(exported)
    for split, dataset in read.items():  # ultralytics read every image and box the manifest lists
        listed = [r for r in rows if r["split"] == split]
        assert len(dataset) == len(listed)
        assert sum(len(x["cls"]) for x in dataset.labels) == sum(int(r["labels"]) for r in listed)
    assert Path(trainer.last).is_file()
