"""In-process objects: ``memory://name/path``.

For tests, notebooks and code that passes data between steps in one process.  Objects live until
the process ends (or ``clear()``); writes appear whole when their stream is closed.
"""
from __future__ import annotations

import hashlib
import io
import threading
from typing import BinaryIO

from ..errors import NotFoundError
from ..model import now_iso
from .base import DataStore, FileStat

# "netloc/path" -> (content, modified, md5); one table for the whole process, like a file system
_objects: dict[str, tuple[bytes, str, str]] = {}
_lock = threading.Lock()


def clear() -> None:
    """Forget every in-memory object."""
    with _lock:
        _objects.clear()


class _MemoryWriter(io.BytesIO):
    """Stores its content when closed; an error inside a ``with`` block discards it."""

    def __init__(self, commit):
        super().__init__()
        self._commit = commit

    def close(self) -> None:
        if not self.closed:
            self._commit(self.getvalue())
        super().close()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._commit = lambda data: None
        self.close()


class MemoryStore(DataStore):
    scheme = "memory"

    def _key(self, path: str) -> str:
        return f"{self.netloc}/{path.lstrip('/')}"

    def _entry(self, path: str) -> tuple[bytes, str, str]:
        try:
            return _objects[self._key(path)]
        except KeyError:
            raise NotFoundError(f"not found: {self.url_of(path)}") from None

    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        if "w" in mode:
            return _MemoryWriter(lambda data: self.put(path, data))
        return io.BytesIO(self._entry(path)[0])

    def read(self, path: str) -> tuple[bytes, FileStat]:
        data, modified, md5 = self._entry(path)
        return data, FileStat(size=len(data), modified=modified, etag=md5)

    def put(self, path: str, data: bytes) -> None:
        data = bytes(data)
        with _lock:
            _objects[self._key(path)] = (data, now_iso(), hashlib.md5(data, usedforsecurity=False).hexdigest())

    def stat(self, path: str) -> FileStat:
        return self.read(path)[1]

    def listdir(self, path: str) -> list[str]:
        prefix = self._key(path).rstrip("/") + "/"
        with _lock:
            keys = [k for k in _objects if k.startswith(prefix)]
        return sorted({k[len(prefix):].split("/", 1)[0] for k in keys})

    def delete(self, path: str) -> None:
        with _lock:
            if _objects.pop(self._key(path), None) is None:
                raise NotFoundError(f"not found: {self.url_of(path)}")
