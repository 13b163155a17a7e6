"""Shared pieces of the deployment tests: the seed's run request and what its answer must hold."""
from __future__ import annotations

import json
import os

from helpers import ROOT

SEED_NUCLIO = os.path.join(ROOT, "handlers", "seed_nuclio.py")
SEED_HANDLERS = os.path.join(ROOT, "handlers", "seed.py")
SECRET = "deploy-secret-4b1f9a"
INFILE_TEXT = "hello from the caller\n"
RUN_ANSWER = "application/vnd.mlrun.run+json"


def seed_request(infile: str, out_path: str = "", p1: int = 5) -> dict:
    """The run struct an mlrun caller sends for the seed: a parameter, an input, a secret (and an output path)."""
    spec: dict = {"parameters": {"p1": p1}, "input_objects": [{"key": "infile.txt", "path": infile}]}
    if out_path:
        spec["default_output_path"] = out_path
    return {"metadata": {"name": "myfunc"}, "spec": spec, "secrets": {"ACCESS_KEY": SECRET}}


def seed_body(infile: str, out_path: str = "", p1: int = 5) -> bytes:
    return json.dumps(seed_request(infile, out_path, p1)).encode()


def check_seed_record(record: dict, p1: int = 5, state: str = "completed") -> dict:
    """What a local run of the seed records: accuracy p1*2, the test.txt artifact (its record; ``state``:
    the seed's own handler answers with the record while its run is still ``running``)."""
    status = record["status"]
    assert status["state"] == state, status.get("error")
    assert status["outputs"] == {"accuracy": p1 * 2}
    assert [a["key"] for a in status["output_artifacts"]] == ["test.txt"]
    assert SECRET not in json.dumps(record)
    return status["output_artifacts"][0]
