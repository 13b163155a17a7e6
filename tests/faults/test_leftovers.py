"""Leftovers of writes that never finished: a temp file of a writer killed mid-write is swept by the next write
to its folder, an upload a lost S3 endpoint kept is named in the error, and ``mlrun gc`` lists (then, with
``--yes``, removes) temp files, incomplete multipart uploads and objects no record points to."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from helpers import mlrun_cli, poll, run_python

from mlrun.errors import StoreError

MB = 1024 * 1024
WRITER = """\
import sys, time
from mlrun.datastore import get_item
out = get_item(sys.argv[1]).open("wb")
out.write(b"x" * 1_000_000)
out._fp.flush()
print("writing", flush=True)
time.sleep(120)
"""


def killed_writer(target: str) -> str:
    """Start a process writing ``target``, SIGKILL it mid-write; the temp file it left."""
    folder = os.path.dirname(target)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, target], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    (temp,) = [n for n in os.listdir(folder) if n.startswith(".mlrun-") and str(proc.pid) in n]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    return os.path.join(folder, temp)


def test_the_temp_file_of_a_killed_writer_is_swept_by_the_next_write_to_its_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    left = killed_writer(str(out / "model.bin"))
    assert os.path.getsize(left) == 1_000_000 and not (out / "model.bin").exists()
    live = subprocess.Popen([sys.executable, "-c", WRITER, str(out / "other.bin")], stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline().strip() == "writing"
        written = run_python("import sys; from mlrun.datastore import get_item; get_item(sys.argv[1]).put(b'y')",
                             str(out / "next.txt"))
        assert written.returncode == 0, written.stderr
        names = sorted(os.listdir(out))
        assert os.path.basename(left) not in names  # its writer is gone: swept
        assert [n for n in names if n.startswith(".mlrun-")] and "next.txt" in names  # a live writer's stays
    finally:
        live.kill()
        live.wait(10)


def test_mlrun_gc_lists_then_removes_the_temp_files_of_dead_writers(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.txt").write_text("mine")
    left = killed_writer(str(out / "model.bin"))
    listed = mlrun_cli("gc", str(out))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [f"temp file of a writer that is gone: {left} (1,000,000 bytes)"]
    assert "1 orphan(s) found; remove them with --yes" in listed.stderr and os.path.exists(left)  # a dry run
    removed = mlrun_cli("gc", str(out), "--yes")
    assert removed.returncode == 0 and "removed 1 orphan(s)" in removed.stderr
    assert sorted(os.listdir(out)) == ["kept.txt"]  # a file of a folder named is never an orphan by default


def test_uploads_a_lost_endpoint_kept_are_named_then_found_and_removed_by_gc(moto_server, small_parts, proxy_to,
                                                                           tmp_path, monkeypatch):
    from mlrun.datastore import get_item

    proxy = proxy_to(urlsplit(moto_server.endpoint_url).port)
    bucket = moto_server.make_bucket()
    store = f"s3://{bucket}/store"
    for key, value in {**moto_server.env, "AWS_MAX_ATTEMPTS": "2", "MLRUN_S3_READ_TIMEOUT": "1",
                       "MLRUN_S3_ABORT_TIMEOUT": "1"}.items():
        monkeypatch.setenv(key, value)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(12 * MB))
    proxy.drop_answers()  # the endpoint does the work, its answers are lost: upload ids never come back
    lost = dict(moto_server.env, S3_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}")
    with pytest.raises(StoreError) as err:
        get_item(f"{store}/artifacts/big.bin", lost).upload(str(src))
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"cannot reach S3 at http://127.0.0.1:{proxy.port} for ")
    assert (f"an incomplete multipart upload may remain (and any whose id the lost endpoint never sent) of "
            f"s3://{bucket}/store/artifacts/big.bin: list and remove it with 'mlrun gc {store}/artifacts/big.bin'"
            in message)
    proxy.heal()
    client = moto_server.client()
    left = poll(lambda: client.list_multipart_uploads(Bucket=bucket).get("Uploads"), what="the uploads left")
    client.put_object(Bucket=bucket, Key="store/artifacts/stray.bin", Body=b"no record points here")
    listed = mlrun_cli("gc", "--db", store, "--older-than", "0")  # the store's own prefix
    assert listed.returncode == 0, listed.stderr
    expected = {f"incomplete multipart upload: s3://{bucket}/store/artifacts/big.bin (upload id {u['UploadId']})"
                for u in left}
    expected.add(f"object no record points to: s3://{bucket}/store/artifacts/stray.bin (21 bytes)")
    assert set(listed.stdout.splitlines()) == expected
    removed = mlrun_cli("gc", "--db", store, "--older-than", "0", "--yes")
    assert removed.returncode == 0 and f"removed {len(expected)} orphan(s)" in removed.stderr
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert not client.list_objects_v2(Bucket=bucket, Prefix="store/artifacts/").get("Contents")


def test_gc_keeps_what_records_point_to_and_the_store_itself(moto_server, tmp_path, monkeypatch):
    for key, value in moto_server.env.items():
        monkeypatch.setenv(key, value)
    bucket = moto_server.make_bucket()
    store = f"s3://{bucket}/store"
    script = tmp_path / "job.py"
    script.write_text("import mlrun\nctx = mlrun.get_or_create_ctx('job')\nctx.log_artifact('a.txt', body='kept')\n")
    result = mlrun_cli("run", "--db", store, "--out-path", f"{store}/artifacts", str(script))
    assert result.returncode == 0, result.stderr
    listed = mlrun_cli("gc", "--db", store, "--older-than", "0")
    assert listed.returncode == 0 and listed.stdout == "" and "0 orphan(s) found" in listed.stderr
