"""S3 and S3-compatible object stores through boto3: ``s3://bucket/key``.

Credentials come from the run's secrets (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``), else from boto3's own chain (environment, ``~/.aws``, instance roles).
An S3-compatible server is named by ``S3_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3`` /
``AWS_ENDPOINT_URL``) and the region by ``AWS_REGION`` / ``AWS_DEFAULT_REGION``: secrets first,
then the environment.

Transfers go through boto3's transfer manager: multipart above ``TRANSFER.multipart_threshold``,
a bounded number of parts in flight, failed multipart uploads aborted, downloads written to a
temp file and renamed.  Requests are retried with backoff (``AWS_MAX_ATTEMPTS``, default 3) and
each attempt has connect and read timeouts (``$MLRUN_S3_CONNECT_TIMEOUT``, default 5 s;
``$MLRUN_S3_READ_TIMEOUT``, default 15 s): an endpoint that accepts connections and never answers
is given up on after 3 x 15 s plus at most 3 s of backoff, under a minute.
"""
from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import BinaryIO

import boto3
from boto3.exceptions import Boto3Error, RetriesExceededError
from boto3.s3.transfer import TransferConfig
from botocore import exceptions as aws
from botocore.config import Config

from ..errors import InvalidInputError, NotFoundError, StoreError
from .base import DataStore, FileStat, TempFileWriter, atomic_path
from .progress import transfer_progress

MB = 1024 * 1024
CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
ENDPOINT_KEYS = ("S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
REGION_KEYS = ("AWS_REGION", "AWS_DEFAULT_REGION")
#: seconds allowed to abort a failed multipart upload (connect and read, one attempt)
ABORT_TIMEOUT_ENV = "MLRUN_S3_ABORT_TIMEOUT"
#: boto3's defaults, spelled out: 8 MiB parts, 10 in flight.  Uploads from a file read each part
#: lazily from disk, so memory stays near the I/O queue's size whatever the file's size.
TRANSFER = TransferConfig(multipart_threshold=8 * MB, multipart_chunksize=8 * MB, max_concurrency=10)

#: seconds per attempt: to connect, and to wait for each read (the first byte of an answer included)
CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT = "MLRUN_S3_CONNECT_TIMEOUT", 5.0
READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT = "MLRUN_S3_READ_TIMEOUT", 15.0
#: attempts per request, the first included (boto3's variable)
ATTEMPTS_ENV, DEFAULT_ATTEMPTS = "AWS_MAX_ATTEMPTS", 3

MAX_CLIENTS = 32
_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def _lookup(secrets: Mapping, keys: tuple) -> str | None:
    """The first of ``keys`` set in the secrets, else in the environment."""
    for source in (secrets, os.environ):
        for key in keys:
            if source.get(key):
                return source[key]
    return None


def s3_client(secrets: Mapping | None = None):
    """A boto3 S3 client for these secrets (cached: clients are thread safe and costly to build)."""
    secrets = secrets or {}
    # credentials only from secrets: without them boto3's chain (environment, files, roles) decides
    access_key, secret_key, token = (secrets.get(k) or None for k in CREDENTIAL_KEYS)
    if bool(access_key) != bool(secret_key):
        raise InvalidInputError("incomplete AWS credentials in the run's secrets: "
                                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together")
    endpoint = _lookup(secrets, ENDPOINT_KEYS)
    region = _lookup(secrets, REGION_KEYS)
    attempts, connect_timeout, read_timeout = _limits()
    settings = (access_key, secret_key, token, endpoint, region, attempts, connect_timeout, read_timeout)
    with _clients_lock:
        client = _clients.get(settings)
        if client is None:
            if len(_clients) >= MAX_CLIENTS:  # a long-lived server seeing many credentials: start over
                _clients.clear()
            config = Config(
                retries={"total_max_attempts": attempts, "mode": "standard"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_pool_connections=max(10, TRANSFER.max_request_concurrency),
                # S3-compatible servers (MinIO, moto, Ceph) rarely have per-bucket host names
                s3={"addressing_style": "path"} if endpoint else None,
            )
            session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                             aws_session_token=token, region_name=region)
            client = _clients[settings] = session.client("s3", endpoint_url=endpoint, config=config)
    return client


def _limits() -> tuple[int, float, float]:
    """Attempts per request, connect and read timeouts, from the environment (one-line errors when malformed)."""
    from ..transport import env_seconds

    text = os.environ.get(ATTEMPTS_ENV) or str(DEFAULT_ATTEMPTS)
    if not text.isdigit() or int(text) < 1:
        raise InvalidInputError(f"${ATTEMPTS_ENV} must be a positive whole number of attempts, got {text!r}")
    return (int(text), env_seconds(CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT),
            env_seconds(READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT))


def unreachable(client, exc: Exception, url: str) -> StoreError:
    """``cannot reach S3 at ENDPOINT for URL: WHAT (N attempts)``: the endpoint and what timed out or failed."""
    config = client.meta.config
    attempts = config.retries["total_max_attempts"]
    if isinstance(exc, aws.ConnectTimeoutError):
        what = f"connect timed out after {config.connect_timeout:g}s"
    elif isinstance(exc, aws.ReadTimeoutError):
        what = f"read timed out after {config.read_timeout:g}s"
    elif isinstance(exc, aws.EndpointConnectionError):
        cause = exc.kwargs.get("error")
        cause = getattr(cause, "__context__", None) or cause  # urllib3's wrapper of the socket error
        text = getattr(cause, "strerror", None) or str(cause or "") or "connection failed"
        what = f"cannot connect: {' '.join(str(text).split())}"
    elif isinstance(exc, aws.ConnectionClosedError):
        what = "connection closed before an answer"
    else:
        what = " ".join(str(exc).split())
    return StoreError(f"cannot reach S3 at {client.meta.endpoint_url} for {url}: {what} ({attempts} attempts)")


class S3Store(DataStore):
    scheme = "s3"

    def __init__(self, netloc: str = "", secrets: Mapping | None = None):
        if not netloc:
            raise InvalidInputError("an s3 URL needs a bucket: s3://BUCKET/KEY")
        super().__init__(netloc, secrets)
        self.bucket = netloc
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = s3_client(self.secrets)
            _watch_uploads(self._client)  # once per client (a unique id)
        return self._client

    def path_of(self, url: str) -> str:
        return super().path_of(url).lstrip("/")

    @contextmanager
    def _errors(self, key: str, upload: bool = False) -> Iterator[None]:
        """Turn boto's exceptions into mlrun's, naming the URL and the endpoint, never a credential.

        With ``upload``, multipart uploads this process began for ``key`` and did not finish are aborted
        on any failure (an exception, KeyboardInterrupt, a lost endpoint), with a short bound of their own;
        one that cannot be aborted is named in the error.
        """
        watch = _UploadWatch(self.bucket, key) if upload else None
        try:
            yield
        except BaseException as exc:
            note = self._abort_uploads(watch, key) if watch is not None else ""
            error = self._translate(exc, self.url_of(key)) if isinstance(exc, Exception) else None
            if error is None:
                if note and isinstance(exc, Exception):
                    raise StoreError(f"{self._where(self.url_of(key))}: {exc}{note}") from None
                raise
            raise type(error)(f"{error}{note}") from None
        finally:
            if watch is not None:
                watch.close()

    def _where(self, url: str) -> str:
        """``s3://bucket/key at ENDPOINT``: which server said no matters as much as what (endpoints are no secret)."""
        try:
            endpoint = self.client.meta.endpoint_url
        except Exception:  # noqa: BLE001 - no client to ask (bad credentials settings): the URL alone
            return url
        return f"{url} at {endpoint}"

    def _translate(self, exc: Exception, url: str) -> Exception | None:
        if isinstance(exc, RetriesExceededError):  # a download whose stream kept breaking
            return StoreError(f"cannot read {self._where(url)}: {exc.last_exception or exc}")
        if isinstance(exc, Boto3Error):  # S3UploadFailedError wraps the real one (raised while handling it)
            exc = exc.__cause__ or exc.__context__ or exc
        if isinstance(exc, aws.ClientError):
            return self._client_error(exc, url)
        if isinstance(exc, (aws.NoCredentialsError, aws.PartialCredentialsError)):
            return StoreError(f"no AWS credentials for {self._where(url)}: set AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY in the run's secrets or the environment")
        if isinstance(exc, (aws.ConnectionError, aws.HTTPClientError)):
            return unreachable(self.client, exc, url)
        if isinstance(exc, aws.BotoCoreError):
            return StoreError(f"{self._where(url)}: {exc}")
        if isinstance(exc, Boto3Error):
            return StoreError(f"{self._where(url)}: {exc}")
        return None

    def _client_error(self, exc: aws.ClientError, url: str) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket" or code in ("404", "NoSuchKey", "NotFound") and not self._bucket_exists():
            return NotFoundError(f"bucket {self.bucket!r} not found ({self._where(url)})")
        if code in ("404", "NoSuchKey", "NotFound"):
            return NotFoundError(f"not found: {self._where(url)}")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                    "AccessDenied", "403", "Forbidden") or status == 403:
            return StoreError(f"access denied to {self._where(url)} ({code}): check the AWS credentials")
        return StoreError(f"{self._where(url)}: {code or status}: {error.get('Message', '')}".rstrip(": "))

    def _abort_uploads(self, watch: _UploadWatch, key: str) -> str:
        """Abort the multipart uploads of ``key`` this write began (the transfer manager aborts its own too, but
        with the client's long timeouts and retries, and not on KeyboardInterrupt); a note naming every one that
        may remain: those it could not abort, and those the endpoint began for an attempt whose answer was lost
        (their ids never came back: the store lists them when it answers again)."""
        upload_ids = watch.started()
        left, client = [], None
        for upload_id in upload_ids:
            try:
                client = client or self._abort_client()
                client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except aws.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":  # already aborted: done
                    left.append(upload_id)
            except Exception:  # noqa: BLE001 - the endpoint is gone: say what may remain
                left.append(upload_id)
        unknown = watch.attempts > watch.answered
        if unknown:  # an answer was lost: whatever the endpoint holds for the key now is named
            try:
                client = client or self._abort_client()
                listed = client.list_multipart_uploads(Bucket=self.bucket, Prefix=key).get("Uploads", ())
                left += [u["UploadId"] for u in listed if u.get("Key") == key and u["UploadId"] not in left]
                unknown = False
            except Exception:  # noqa: BLE001, S110 - the endpoint is still gone: said below
                pass
        if not left and not unknown:
            return ""
        named = f"upload id {', '.join(left)}" if left else ""
        if unknown:
            named += ("; " if named else "") + "and any whose id the lost endpoint never sent"
        return (f"; an incomplete multipart upload may remain ({named}) of s3://{self.bucket}/{key}: list and "
                f"remove it with 'mlrun gc s3://{self.bucket}/{key}' (or 'aws s3api list-multipart-uploads "
                f"--bucket {self.bucket} --prefix {key}' and 'aws s3api abort-multipart-upload')")

    def _abort_client(self):
        """A client like ours, with one attempt and short timeouts (``MLRUN_S3_ABORT_TIMEOUT``, default 5 s)."""
        from ..config import env_seconds

        bound = env_seconds(ABORT_TIMEOUT_ENV, 5.0)
        meta = self.client.meta
        config = meta.config.merge(Config(connect_timeout=bound, read_timeout=bound,
                                          retries={"total_max_attempts": 1, "mode": "standard"}))
        access_key, secret_key, token = (self.secrets.get(k) or None for k in CREDENTIAL_KEYS)
        session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                         aws_session_token=token, region_name=meta.region_name)
        return session.client("s3", endpoint_url=meta.endpoint_url, config=config)

    def _bucket_exists(self) -> bool:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return True
        except aws.ClientError as exc:
            return exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound")
        except aws.BotoCoreError:
            return True  # cannot tell; the original error stands

    # -- primitives ----------------------------------------------------------------------------
    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        if "w" in mode:
            # parts go up from a local temp file, so a large object never sits in memory
            return TempFileWriter(lambda tmp: self.upload(path, tmp))  # type: ignore[return-value]
        with self._errors(path):
            return self.client.get_object(Bucket=self.bucket, Key=path)["Body"]

    def read(self, path: str) -> tuple[bytes, FileStat]:
        with self._errors(path):
            answer = self.client.get_object(Bucket=self.bucket, Key=path)
            return answer["Body"].read(), _object_stat(answer)

    def put(self, path: str, data: bytes) -> None:
        with self._errors(path, upload=True):
            if len(data) < TRANSFER.multipart_threshold:
                self.client.put_object(Bucket=self.bucket, Key=path, Body=data)
            else:  # parts go in parallel, each retried on its own
                self.client.upload_fileobj(io.BytesIO(data), self.bucket, path, Config=TRANSFER)

    def upload(self, path: str, local_path: str) -> None:
        size = os.path.getsize(local_path)
        with self._errors(path, upload=True), transfer_progress(f"upload {os.path.basename(path)}", size) as update:
            self.client.upload_file(local_path, self.bucket, path, Config=TRANSFER, Callback=update)

    def download(self, path: str, local_path: str) -> None:
        progress = transfer_progress(f"download {os.path.basename(path)}", lambda: self.stat(path).size)
        with self._errors(path), atomic_path(local_path) as tmp, progress as update:
            self.client.download_file(self.bucket, path, tmp, Config=TRANSFER, Callback=update)

    def stat(self, path: str) -> FileStat:
        with self._errors(path):
            return _object_stat(self.client.head_object(Bucket=self.bucket, Key=path))

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``, at any depth."""
        with self._errors(prefix):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", ()):
                    yield obj["Key"]

    def listdir(self, path: str) -> list[str]:
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        names = set()
        with self._errors(path):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix,
                                                                          Delimiter="/")
            for page in pages:
                names.update(o["Key"][len(prefix):] for o in page.get("Contents", ()))
                names.update(p["Prefix"][len(prefix):].rstrip("/") for p in page.get("CommonPrefixes", ()))
        names.discard("")
        return sorted(names)

    def delete(self, path: str) -> None:
        self.stat(path)  # S3 deletes silently; say when there was nothing to delete
        with self._errors(path):
            self.client.delete_object(Bucket=self.bucket, Key=path)

    def delete_keys(self, keys: list[str]) -> None:
        """Delete many keys, a thousand per request (missing keys are ignored)."""
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start:start + 1000]]
            with self._errors(batch[0]["Key"]):
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})


class _UploadWatch:
    """Notes the multipart uploads this process starts for one key while the watch is open.

    Upload ids are told by the CreateMultipartUpload answers (a hook on every client, registered
    once), so they are known even when the endpoint is gone by the time of a failure."""

    _lock = threading.Lock()
    _watches: dict[tuple[str, str], list[_UploadWatch]] = {}

    def __init__(self, bucket: str, key: str):
        self._where = (bucket, key)
        self._ids: list[str] = []
        #: CreateMultipartUpload calls made, and answered (a call without an answer may have started uploads
        #: whose ids never came back)
        self.attempts = self.answered = 0
        with self._lock:
            self._watches.setdefault(self._where, []).append(self)

    def started(self) -> list[str]:
        with self._lock:
            return list(self._ids)

    def close(self) -> None:
        with self._lock:
            watches = self._watches.get(self._where, [])
            if self in watches:
                watches.remove(self)
            if not watches:
                self._watches.pop(self._where, None)

    @classmethod
    def attempt(cls, params=None, context=None, **kwargs) -> None:
        """botocore's ``provide-client-params.s3.CreateMultipartUpload`` hook: a call is about to begin uploads."""
        if not params:
            return
        where = (params.get("Bucket"), params.get("Key"))
        if context is not None:
            context["mlrun_upload"] = where  # for the answer's hook, which sees no parameters
        with cls._lock:
            for watch in cls._watches.get(where, ()):
                watch.attempts += 1

    @classmethod
    def note(cls, parsed=None, context=None, **kwargs) -> None:
        """botocore's ``after-call.s3.CreateMultipartUpload`` hook: an answer came (an upload id, or an error)."""
        where = (context or {}).get("mlrun_upload")
        with cls._lock:
            for watch in cls._watches.get(where or (None, None), ()):
                watch.answered += 1
            if not parsed or not parsed.get("UploadId"):
                return
            for watch in cls._watches.get((parsed.get("Bucket"), parsed.get("Key")), ()):
                watch._ids.append(parsed["UploadId"])


def _watch_uploads(client) -> None:
    client.meta.events.register("after-call.s3.CreateMultipartUpload", _UploadWatch.note,
                                unique_id="mlrun-upload-watch")
    client.meta.events.register("provide-client-params.s3.CreateMultipartUpload", _UploadWatch.attempt,
                                unique_id="mlrun-upload-attempt")


def _object_stat(answer: dict) -> FileStat:
    """Size, time and tag from a HEAD or GET answer."""
    return FileStat(size=answer["ContentLength"], modified=answer["LastModified"].isoformat(),
                    etag=answer.get("ETag", "").strip('"'))
