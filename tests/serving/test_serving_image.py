"""deploy/Dockerfile serving a serving function's YAML, built with the sklearn extra (podman, no registry: see
tests/deploy/test_image.py), run as its non-root user on 127.0.0.1 with a token."""
from __future__ import annotations

import os
import uuid

import pytest
import requests
from helpers import free_port
from serving_helpers import sample_rows, train, write_spec
from test_image import built_image, podman, wait_healthy

TOKEN = "serving-image-token-61ab"


@pytest.fixture(scope="module")
def image():
    """The image built from the checkout with the sklearn extra; removed afterwards."""
    yield from built_image("mlrun-serving-test", "--build-arg", "MLRUN_EXTRAS=server,s3,sklearn")


def test_the_image_serves_a_models_yaml_with_the_models_own_predictions(image, tmp_path):
    folder = tmp_path / "models"
    model, _ = train(str(folder))
    write_spec(str(folder), "model.pkl")
    for path in (folder, *folder.iterdir()):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)  # readable by the image's own user
    port, name = free_port(), f"mlrun-serving-test-{uuid.uuid4().hex[:8]}"
    podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", "-e", f"MLRUN_FUNCTION_TOKEN={TOKEN}",
           "-e", "MLRUN_HANDLER=/models/function.yaml", "-v", f"{folder}:/models:ro", image)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, name)
        rows = sample_rows()
        auth = {"Authorization": f"Bearer {TOKEN}"}
        answer = requests.post(url + "/v2/models/iris/infer", json={"inputs": rows}, headers=auth, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"] == model.predict(rows).tolist()
        assert requests.get(url + "/v2/models/", headers=auth, timeout=10).json() == {"models": ["iris"]}
        assert requests.get(url + "/v2/models/", timeout=10).status_code == 401  # the token is required
        assert podman("exec", name, "id", "-u").stdout.strip() not in ("", "0")
    finally:
        podman("rm", "-f", name, check=False)
