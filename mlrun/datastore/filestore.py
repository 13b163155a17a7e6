"""Local files: plain paths and ``file://`` URLs.  Writes land atomically (temp file, then rename)."""
from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from typing import BinaryIO

from ..errors import NotFoundError, StoreError
from .base import DataStore, FileStat


def _temp_beside(path: str) -> tuple[int, str]:
    """A new temp file in ``path``'s folder, so the final rename stays on one file system."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return tempfile.mkstemp(dir=folder, prefix=".mlrun-")


class _AtomicWriter:
    """A file object that becomes visible at ``path`` only when closed without error."""

    def __init__(self, path: str):
        fd, self._tmp = _temp_beside(path)
        self._fp = os.fdopen(fd, "wb")
        self._path = path

    def write(self, data: bytes) -> int:
        return self._fp.write(data)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._fp.close()
        if exc_type is None:
            os.replace(self._tmp, self._path)
        else:
            os.unlink(self._tmp)

    def close(self) -> None:
        self.__exit__(None, None, None)


class FileStore(DataStore):
    def path_of(self, url: str) -> str:
        path = url[len("file://"):] if url.startswith("file://") else url
        return os.path.expanduser(path)

    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        if "w" in mode:
            return _AtomicWriter(path)  # type: ignore[return-value]
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise NotFoundError(f"file not found: {path}") from None
        except IsADirectoryError:
            raise StoreError(f"{path} is a directory, not a file") from None

    def stat(self, path: str) -> FileStat:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise NotFoundError(f"file not found: {path}") from None
        modified = datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat()
        return FileStat(size=st.st_size, modified=modified)

    def upload(self, path: str, local_path: str) -> None:
        if os.path.abspath(path) == os.path.abspath(local_path):
            return
        fd, tmp = _temp_beside(path)
        os.close(fd)
        try:
            shutil.copyfile(local_path, tmp)  # the kernel's zero-copy path, unlike a read/write loop
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    def download(self, path: str, local_path: str) -> None:
        if not os.path.exists(path):
            raise NotFoundError(f"file not found: {path}")
        self.upload(local_path, path)

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            raise NotFoundError(f"directory not found: {path}") from None

    def delete(self, path: str) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            raise NotFoundError(f"file not found: {path}") from None

