"""Local files: plain paths and ``file://`` URLs.  Writes land atomically (temp file, then rename)."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from stat import S_ISDIR
from typing import BinaryIO

from ..errors import NotFoundError, StoreError
from .base import CHUNK_SIZE, DataStore, FileStat, TempFileWriter, atomic_path, create_temp, unlink_quietly

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _file_stat(st: os.stat_result) -> FileStat:
    return FileStat(size=st.st_size, modified=datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat())


def _read_to_end(fd: int, size: int) -> bytes:
    """Everything left in ``fd``: one read of the expected size, and the empty read that confirms the end."""
    data = os.read(fd, size + 1)
    more = os.read(fd, CHUNK_SIZE) if data else b""
    if not more:
        return data
    parts = [data, more]  # the file grew, or is larger than one read returns
    while more:
        more = os.read(fd, CHUNK_SIZE)
        parts.append(more)
    return b"".join(parts)


class FileStore(DataStore):
    scheme = "file"

    def path_of(self, url: str) -> str:
        path = url[len("file://"):] if url.startswith("file://") else url
        return os.path.expanduser(path)

    def url_of(self, path: str) -> str:
        return path

    def local_path(self, path: str) -> str | None:
        if not os.path.isfile(path):
            self.stat(path)  # a clear NotFoundError rather than a bad path later
        return path

    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        if "w" in mode:
            # the temp file sits beside the target so the final rename stays on one file system
            folder = os.path.dirname(os.path.abspath(path))
            with _write_errors(path):
                return _NamedWriter(lambda tmp: os.replace(tmp, path), folder, path)  # type: ignore[return-value]
        with _os_errors(path):
            return open(path, "rb")

    def stat(self, path: str) -> FileStat:
        with _os_errors(path):
            return _file_stat(os.stat(path))

    def read(self, path: str) -> tuple[bytes, FileStat]:
        # the stat is the open file's: the version read, even when the path is replaced meanwhile
        with _os_errors(path):
            fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if S_ISDIR(st.st_mode):
                raise StoreError(f"{path} is a directory, not a file")
            return _read_to_end(fd, st.st_size), _file_stat(st)
        finally:
            os.close(fd)

    def put(self, path: str, data: bytes) -> None:
        with _write_errors(path):
            self._put(path, data)

    def _put(self, path: str, data: bytes) -> None:
        fd, tmp = create_temp(os.path.dirname(os.path.abspath(path)))
        try:
            try:
                view = memoryview(data)
                while view:  # one write per 2 GiB at most: a single call would stop short
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            unlink_quietly(tmp)
            raise

    def upload(self, path: str, local_path: str) -> None:
        if os.path.abspath(path) == os.path.abspath(local_path):
            return
        if not os.path.isfile(local_path):
            raise NotFoundError(f"file not found: {local_path}")
        with _write_errors(path), atomic_path(path) as tmp:
            shutil.copyfile(local_path, tmp)  # the kernel's zero-copy path, unlike a read/write loop

    def download(self, path: str, local_path: str) -> None:
        if not os.path.isfile(path):
            self.stat(path)  # NotFoundError naming the path, or a directory
            raise StoreError(f"{path} is a directory, not a file")
        self.upload(local_path, path)

    def listdir(self, path: str) -> list[str]:
        with _os_errors(path, "directory"):
            return sorted(os.listdir(path or "."))

    def delete(self, path: str) -> None:
        with _os_errors(path):
            os.remove(path)


class _NamedWriter(TempFileWriter):
    """A local file being written: a failed write (a full disk) names the target."""

    def __init__(self, commit, folder: str, target: str):
        super().__init__(commit, folder)
        self.target = target

    def write(self, data: bytes) -> int:
        try:
            return super().write(data)
        except OSError as exc:
            self._finish(commit=False)
            raise _write_error(self.target, exc) from None

    def _finish(self, commit: bool) -> None:
        with _write_errors(self.target):
            super()._finish(commit)


def _write_error(path: str, exc: OSError) -> StoreError:
    error = StoreError(f"cannot write {path}: {exc.strerror or exc} (nothing was written there)")
    error.strerror = exc.strerror  # the OS's reason alone, for a caller that names the target its own way
    return error


@contextmanager
def _write_errors(path: str) -> Iterator[None]:
    """A failed write (a full disk, no permission) as one line naming the target; the partial copy is gone."""
    try:
        yield
    except (StoreError, NotFoundError):
        raise
    except OSError as exc:
        raise _write_error(path, exc) from None


@contextmanager
def _os_errors(path: str, kind: str = "file") -> Iterator[None]:
    """The OS's errors about ``path`` (a ``kind``: file or directory) as the store's one-line errors."""
    try:
        yield
    except FileNotFoundError:
        raise NotFoundError(f"{kind} not found: {path}") from None
    except IsADirectoryError:
        raise StoreError(f"{path} is a directory, not a file") from None
    except NotADirectoryError:
        raise StoreError(f"{path} is a file, not a directory" if kind == "directory" else
                         f"{path}: a part of the path is a file, not a directory") from None
