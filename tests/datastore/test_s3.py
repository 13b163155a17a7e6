"""The s3:// data store against a real S3 endpoint (a moto server process), talked to over HTTP."""
import hashlib
import os
from pathlib import Path

import pytest
from helpers import free_port
from s3server import ACCESS_KEY, SECRET_KEY, running_auth_moto_server

import mlrun.datastore.s3 as s3
from mlrun.datastore import get_item
from mlrun.errors import NotFoundError, StoreError

MB = 1024 * 1024


@pytest.fixture
def bucket(moto_server):
    return moto_server.make_bucket()


@pytest.fixture
def no_aws_env(monkeypatch, tmp_path):
    """Nothing for boto3's own credential chain to find."""
    for key in [k for k in os.environ if k.startswith("AWS_") and k != "AWS_EC2_METADATA_DISABLED"]:
        monkeypatch.delenv(key)
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


def test_item_round_trip(moto_server, bucket, tmp_path):
    secrets = moto_server.env
    item = get_item(f"s3://{bucket}/dir/a.txt", secrets)
    item.put("hello s3")
    assert item.get() == b"hello s3" and item.get(encoding="utf-8") == "hello s3"
    stat = item.stat()
    assert stat.size == 8 and stat.etag == hashlib.md5(b"hello s3").hexdigest() and stat.modified
    with item.open() as fp:
        assert fp.read(5) == b"hello" and fp.read() == b" s3"
    assert Path(item.local()).read_bytes() == b"hello s3"
    assert Path(item.download(str(tmp_path / "d" / "a.txt"))).read_bytes() == b"hello s3"
    get_item(f"s3://{bucket}/dir/sub/b.txt", secrets).put(b"b")
    assert get_item(f"s3://{bucket}/dir", secrets).listdir() == ["a.txt", "sub"]
    assert get_item(f"s3://{bucket}/dir/", secrets).listdir() == ["a.txt", "sub"]
    assert item.exists()
    item.delete()
    assert not item.exists()
    with pytest.raises(NotFoundError, match=f"s3://{bucket}/dir/a.txt"):
        item.delete()


def test_a_whole_read_tells_the_version_it_read(moto_server, bucket):
    item = get_item(f"s3://{bucket}/in/x.txt", moto_server.env)
    item.put(b"lineage")
    seen = []
    item.on_read = lambda _, content, stat: seen.append((content, stat))
    assert item.get() == b"lineage"
    assert seen == [(b"lineage", item.stat())]  # from the GET's own answer: no HEAD needed for lineage


def test_streaming_writer_uploads_on_close(moto_server, bucket):
    item = get_item(f"s3://{bucket}/stream.bin", moto_server.env)
    with item.open("wb") as fp:
        for _ in range(3):
            fp.write(b"x" * 1000)
    assert item.get() == b"x" * 3000


def test_failed_streaming_write_uploads_nothing(moto_server, bucket):
    item = get_item(f"s3://{bucket}/never.bin", moto_server.env)
    with pytest.raises(RuntimeError), item.open("wb") as fp:
        fp.write(b"partial")
        raise RuntimeError("interrupted")
    assert not item.exists()


def test_large_upload_and_download_are_multipart_and_whole(moto_server, bucket, tmp_path, small_parts):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(12 * MB))
    item = get_item(f"s3://{bucket}/big.bin", moto_server.env)
    item.upload(str(src))
    assert item.stat().etag.endswith("-3")  # three parts: 5 + 5 + 2 MiB
    out = tmp_path / "out" / "big.bin"
    item.download(str(out))
    assert out.read_bytes() == src.read_bytes()
    assert os.listdir(tmp_path / "out") == ["big.bin"]


def test_failed_multipart_upload_is_aborted(moto_server, bucket, tmp_path, small_parts, monkeypatch):
    """A transfer that breaks mid-way leaves neither an object nor a dangling multipart upload."""
    import contextlib

    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(12 * MB))

    def failing_update(nbytes):
        raise ConnectionAbortedError("link lost")

    monkeypatch.setattr(s3, "transfer_progress", lambda desc, size: contextlib.nullcontext(failing_update))
    item = get_item(f"s3://{bucket}/big.bin", moto_server.env)
    with pytest.raises(ConnectionAbortedError):
        item.upload(str(src))
    client = moto_server.client()
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert not item.exists()


def test_failed_download_leaves_no_partial_file(moto_server, bucket, tmp_path, small_parts, monkeypatch):
    import contextlib

    item = get_item(f"s3://{bucket}/big.bin", moto_server.env)
    item.put(os.urandom(12 * MB))

    def failing_update(nbytes):
        raise ConnectionAbortedError("link lost")

    monkeypatch.setattr(s3, "transfer_progress", lambda desc, size: contextlib.nullcontext(failing_update))
    with pytest.raises(StoreError, match=f"cannot read s3://{bucket}/big.bin at {moto_server.endpoint_url}: link lost"):
        item.download(str(tmp_path / "big.bin"))
    assert os.listdir(tmp_path) == []


def test_missing_object_and_bucket_name_the_url(moto_server, bucket, tmp_path):
    with pytest.raises(NotFoundError, match=f"not found: s3://{bucket}/nope.txt"):
        get_item(f"s3://{bucket}/nope.txt", moto_server.env).get()
    with pytest.raises(NotFoundError, match=f"not found: s3://{bucket}/nope.txt"):
        get_item(f"s3://{bucket}/nope.txt", moto_server.env).download(str(tmp_path / "x"))
    assert os.listdir(tmp_path) == []
    for call in (lambda i: i.get(), lambda i: i.stat(), lambda i: i.put(b"x"), lambda i: i.listdir()):
        with pytest.raises(NotFoundError, match=r"bucket 'no-such-bucket-x' not found \(s3://no-such-bucket-x/k"):
            call(get_item("s3://no-such-bucket-x/k", moto_server.env))


def test_bucketless_url_is_refused():
    with pytest.raises(ValueError, match="needs a bucket"):
        get_item("s3:///key")


def test_secrets_come_before_the_environment(moto_server, bucket, no_aws_env):
    """With nothing in the environment, the run's secrets alone reach the server."""
    item = get_item(f"s3://{bucket}/from-secrets.txt", moto_server.env)
    item.put(b"ok")
    assert item.get() == b"ok"


def test_environment_is_the_fallback(s3_env, bucket):
    item = get_item(f"s3://{bucket}/from-env.txt")  # no secrets: boto3's chain and S3_ENDPOINT_URL
    item.put(b"ok")
    assert item.get() == b"ok"


def test_named_store_uses_its_prefixed_credentials(moto_server, bucket, no_aws_env):
    secrets = {"LAKE_" + k: v for k, v in moto_server.env.items()}
    stores = [{"name": "lake", "url": f"s3://{bucket}/base", "secret_prefix": "LAKE_"}]
    get_item("ds://lake/x.txt", secrets, data_stores=stores).put(b"lake")
    assert moto_server.client().get_object(Bucket=bucket, Key="base/x.txt")["Body"].read() == b"lake"


def test_missing_credentials_are_reported_without_keys(moto_server, bucket, no_aws_env):
    with pytest.raises(StoreError, match=f"no AWS credentials for s3://{bucket}/k"):
        get_item(f"s3://{bucket}/k", {"S3_ENDPOINT_URL": moto_server.endpoint_url}).get()


def test_half_a_key_pair_is_refused():
    with pytest.raises(ValueError, match="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together") as err:
        get_item("s3://mybucket/k", {"AWS_ACCESS_KEY_ID": ACCESS_KEY}).get()
    assert ACCESS_KEY not in str(err.value)


def test_unreachable_endpoint_fails_after_bounded_retries(monkeypatch):
    bucket = "mybucket"
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    dead = f"http://127.0.0.1:{free_port()}"
    secrets = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "S3_ENDPOINT_URL": dead}
    reason = rf"^cannot reach S3 at {dead} for s3://{bucket}/k: cannot connect: Connection refused \(2 attempts\)$"
    with pytest.raises(StoreError, match=reason) as err:
        get_item(f"s3://{bucket}/k", secrets).get()
    assert SECRET_KEY not in str(err.value)
    with pytest.raises(StoreError, match=f"cannot reach S3 at {dead} for s3://{bucket}/up: .*2 attempts"):
        get_item(f"s3://{bucket}/up", secrets).upload(__file__)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    """A private moto server that checks credentials, with one IAM user allowed to use S3."""
    with running_auth_moto_server(str(tmp_path_factory.mktemp("moto"))) as server:
        yield server


def test_wrong_credentials_are_reported_without_keys(auth_server, no_aws_env):
    good = auth_server.env
    bucket = "auth-bucket"
    get_item(f"s3://{bucket}/k", good).store.client.create_bucket(Bucket=bucket)
    get_item(f"s3://{bucket}/k", good).put(b"secret data")
    assert get_item(f"s3://{bucket}/k", good).get() == b"secret data"

    wrong_secret = dict(good, AWS_SECRET_ACCESS_KEY="not-the-right-secret-key")
    unknown_key = dict(good, AWS_ACCESS_KEY_ID="AKIAUNKNOWNKEY000000")
    for secrets in (wrong_secret, unknown_key):
        with pytest.raises(StoreError, match=f"access denied to s3://{bucket}/k .*check the AWS credentials") as err:
            get_item(f"s3://{bucket}/k", secrets).get()
        assert secrets["AWS_SECRET_ACCESS_KEY"] not in str(err.value)
        assert secrets["AWS_ACCESS_KEY_ID"] not in str(err.value)
