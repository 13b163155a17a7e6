"""A real S3 endpoint for tests: a moto server process on 127.0.0.1 at a free port.

Registered in ``conftest.py`` (``pytest_plugins = ["s3server"]``)::

    def test_something(moto_server):
        bucket = moto_server.make_bucket()      # a new bucket with a unique name (or make_bucket("mybucket"))
        moto_server.endpoint_url                # http://127.0.0.1:PORT
        moto_server.env                         # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION,
                                                # S3_ENDPOINT_URL: for subprocesses or a secrets file
        moto_server.client().put_object(Bucket=bucket, Key="k", Body=b"v")

    def test_other(s3_env):                     # the same server, with moto_server.env set in os.environ
        ...

The server starts once per test session (once per xdist worker), boto3 talks to it over HTTP,
and it is stopped when the session ends.  ``running_moto_server(env)`` starts a private one (for
instance with authentication turned on).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest
from helpers import free_port, stop_process, wait_for_http

# never let boto3's credential chain ask the cloud instance-metadata address from a test
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

ACCESS_KEY = "AKIAMLRUNTESTKEY0001"
SECRET_KEY = "mlrun-test-secret-key-do-not-print"


class MotoServer:
    """What a test needs to talk to the server."""

    def __init__(self, endpoint_url: str):
        self.endpoint_url = endpoint_url
        #: credentials, region and endpoint as environment variables (any key pair works on moto)
        self.env = {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "S3_ENDPOINT_URL": endpoint_url,
        }

    def client(self, **credentials):
        """A boto3 S3 client for this server (``credentials`` override the test key pair)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=credentials.get("aws_access_key_id", ACCESS_KEY),
                            aws_secret_access_key=credentials.get("aws_secret_access_key", SECRET_KEY))

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a new unique name by default; an existing ``name`` is reused) and return its name."""
        name = name or f"mlrun-test-{uuid.uuid4().hex[:12]}"
        client = self.client()
        with suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)
        return name

    def secrets_file(self, path: str, **extra: str) -> str:
        """Write ``KEY=VALUE`` lines with the credentials and endpoint (plus ``extra``) for ``-s file=PATH``."""
        with open(path, "w") as fp:
            fp.writelines(f"{k}={v}\n" for k, v in {**self.env, **extra}.items())
        return path


@contextmanager
def running_moto_server(env: dict | None = None, log_dir: str | None = None) -> Iterator[MotoServer]:
    """Start ``python -m moto.server`` on 127.0.0.1 at a free port, wait until it answers, stop it after."""
    port = free_port()
    log_path = os.path.join(log_dir or tempfile.gettempdir(), f"moto-{port}.log")
    with open(log_path, "wb") as log:  # a file, not a pipe: nobody reads the server's request log
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    endpoint = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_http(endpoint + "/moto-api/", proc)
        except (RuntimeError, TimeoutError) as exc:
            with open(log_path, errors="replace") as fp:
                raise RuntimeError(f"moto server did not start: {exc}\n{fp.read()[-2000:]}") from None
        yield MotoServer(endpoint)
    finally:
        stop_process(proc)


@contextmanager
def running_auth_moto_server(log_dir: str, user: str = "runner") -> Iterator[MotoServer]:
    """A private moto server that checks credentials (moto lets the first requests in unsigned: they create one
    IAM user allowed to use S3), its ``env`` holding that user's key pair."""
    import json

    with running_moto_server({"INITIAL_NO_AUTH_ACTION_COUNT": "3"}, log_dir) as server:
        import boto3

        iam = boto3.client("iam", endpoint_url=server.endpoint_url, region_name="us-east-1",
                           aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        iam.create_user(UserName=user)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        server.env.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
        yield server


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> Iterator[MotoServer]:
    """One moto S3 server for the whole session."""
    with running_moto_server(log_dir=str(tmp_path_factory.mktemp("moto"))) as server:
        yield server


@pytest.fixture
def s3_env(moto_server, monkeypatch) -> MotoServer:
    """The session's moto server, with its credentials and endpoint in ``os.environ`` for this test."""
    for key, value in moto_server.env.items():
        monkeypatch.setenv(key, value)
    return moto_server


@pytest.fixture
def small_parts(monkeypatch):
    """Multipart from 5 MiB (S3's smallest part), two parts in flight, so multipart paths run on small files."""
    from boto3.s3.transfer import TransferConfig

    from mlrun.datastore import s3

    mib = 1024 * 1024
    monkeypatch.setattr(s3, "TRANSFER", TransferConfig(multipart_threshold=5 * mib, multipart_chunksize=5 * mib,
                                                       max_concurrency=2))
