"""Realistic run records for the server tests: parameters, inputs with lineage, outputs, long metric
histories and artifacts (a PNG chart, a CSV table, a text report) written to a directory."""
from __future__ import annotations

import math
import os
import struct
import zlib
from datetime import datetime, timedelta

from mlrun.model import RunRecord


def png(width: int = 64, height: int = 32) -> bytes:
    """A small valid PNG (a blue gradient): an image artifact without an imaging library."""
    rows = b"".join(b"\0" + bytes(v for x in range(width) for v in (0, 4 * x % 256, 255)) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def sample_record(uid: str, name: str = "train", lr: float = 0.1, epochs: int = 1000, state: str = "completed",
                  start: str = "2024-03-01T10:00:00+00:00", seconds: float = 252.0,
                  project: str = "vision", labels: dict | None = None, artifacts_dir: str | None = None) -> dict:
    record = RunRecord()
    meta, spec, status = record.metadata, record.spec, record.status
    meta.uid, meta.name, meta.project = uid, name, project
    meta.labels = dict(labels or {"owner": "ana", "team": "vision"})
    spec.runtime = {"kind": "local", "command": "train.py"}
    spec.parameters = {"lr": lr, "epochs": epochs, "optimizer": "adam", "layers": [64, 32]}
    spec.input_objects = [{"key": "data.csv", "path": "s3://datasets/iris/data.csv"}]
    spec.secret_sources = [{"kind": "file", "source": "secrets.txt"}]
    end = (datetime.fromisoformat(start) + timedelta(seconds=seconds)).isoformat()
    status.state, status.start_time, status.last_update = state, start, end
    status.input_objects = [{"key": "data.csv", "url": "s3://datasets/iris/data.csv", "size": 4551,
                             "etag": "9b2cf535f27731c974343645a3985328", "read_time": start}]
    status.outputs = {"accuracy": round(0.8 + lr / 2, 4), "f1": round(0.75 + lr / 3, 4), "model": "model.pkl"}
    status.metrics = {
        "loss": {"labels": {}, "xvalues": [str(i) for i in range(1, epochs + 1)],
                 "yvalues": [2.0 * math.exp(-i * lr / 100) + 0.05 * math.sin(i / 7) for i in range(1, epochs + 1)]},
        "accuracy": {"labels": {}, "xvalues": [str(i) for i in range(1, 101)],
                     "yvalues": [0.5 + 0.45 * (1 - math.exp(-i * lr / 10)) for i in range(1, 101)]},
    }
    if artifacts_dir:
        os.makedirs(artifacts_dir, exist_ok=True)
        files = {"chart.png": png(), "table.csv": b"epoch,loss,accuracy\n1,2.0,0.5\n2,1.5,0.62\n3,1.1,0.71\n",
                 "report.txt": f"run {uid}: lr={lr}\nall good\n".encode()}
        for key, data in files.items():
            path = os.path.join(artifacts_dir, f"{uid}-{key}")
            with open(path, "wb") as fp:
                fp.write(data)
            status.output_artifacts.append({"key": key, "target_path": path, "size": len(data),
                                            "format": key.rsplit(".", 1)[1], "description": f"the {key}",
                                            "producer": {"name": name, "uid": uid},
                                            "sources": [{"key": "data.csv", "path": "s3://datasets/iris/data.csv"}]})
    return record.to_dict()
