"""What every data store provides, and the ``DataItem`` user code holds.

A back end implements a few primitives (``open``, ``put``, ``stat``, ``listdir``, ``delete``,
and, where it can do better than streaming through ``open``, ``upload``/``download``);
everything else is built here once.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO, Mapping

CHUNK_SIZE = 1024 * 1024


@dataclass
class FileStat:
    size: int
    modified: str = ""
    etag: str = ""


class DataStore(ABC):
    """One back end: files, an object store, a web server, ... ``netloc`` is the bucket or host."""

    def __init__(self, netloc: str = "", secrets: Mapping | None = None):
        self.netloc = netloc
        self.secrets = secrets or {}

    def path_of(self, url: str) -> str:
        """The back-end path of ``url`` (what the primitives below take)."""
        from . import split_url

        return split_url(url)[2]

    @abstractmethod
    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        """A binary stream for reading (``rb``) or writing (``wb``)."""

    @abstractmethod
    def stat(self, path: str) -> FileStat: ...

    def get(self, path: str) -> bytes:
        with self.open(path, "rb") as fp:
            return fp.read()

    def put(self, path: str, data: bytes) -> None:
        with self.open(path, "wb") as fp:
            fp.write(data)

    def upload(self, path: str, local_path: str) -> None:
        with open(local_path, "rb") as src, self.open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK_SIZE)

    def download(self, path: str, local_path: str) -> None:
        """Stream into ``local_path``; the file appears whole or not at all."""
        folder = os.path.dirname(os.path.abspath(local_path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".mlrun-")
        try:
            with os.fdopen(fd, "wb") as dst, self.open(path, "rb") as src:
                shutil.copyfileobj(src, dst, CHUNK_SIZE)
            os.replace(tmp, local_path)
        except BaseException:
            os.unlink(tmp)
            raise

    def listdir(self, path: str) -> list[str]:
        raise NotImplementedError(f"{type(self).__name__} cannot list {path}")

    def delete(self, path: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot delete {path}")

    def exists(self, path: str) -> bool:
        from ..errors import NotFoundError

        try:
            self.stat(path)
            return True
        except (NotFoundError, FileNotFoundError):
            return False


class DataItem:
    """An object at a URL, as run code sees it: ``get()``, ``local()``, ``open()``, ``put()``, ..."""

    def __init__(self, store: DataStore, path: str, url: str, key: str = ""):
        self.store = store
        self.path = path
        self.url = url
        self.key = key
        self._local_path = ""
        #: called with the item after its content was read (lineage is recorded there)
        self.on_read = None

    def __repr__(self) -> str:
        return f"DataItem({self.url!r})"

    def _read_done(self) -> None:
        if self.on_read is not None:
            self.on_read(self)

    def get(self, encoding: str | None = None):
        """The whole content: bytes, or text when ``encoding`` is given."""
        data = self.store.get(self.path)
        self._read_done()
        return data.decode(encoding) if encoding else data

    def open(self, mode: str = "rb") -> BinaryIO:
        if "r" in mode:
            self._read_done()
        return self.store.open(self.path, mode)

    def local(self) -> str:
        """A local file with the content: the file itself for local paths, else a cached download."""
        if not self._local_path:
            from .filestore import FileStore

            if isinstance(self.store, FileStore):
                self._local_path = self.path
            else:
                import hashlib

                cache = os.path.join(tempfile.gettempdir(), "mlrun-cache")
                name = hashlib.sha256(self.url.encode()).hexdigest()[:16] + "-" + os.path.basename(self.path)
                self._local_path = os.path.join(cache, name)
                self.store.download(self.path, self._local_path)
        self._read_done()
        return self._local_path

    def download(self, local_path: str) -> str:
        self.store.download(self.path, local_path)
        self._read_done()
        return local_path

    def put(self, data: bytes | str) -> None:
        self.store.put(self.path, data.encode("utf-8") if isinstance(data, str) else data)

    def upload(self, local_path: str) -> None:
        self.store.upload(self.path, local_path)

    def stat(self) -> FileStat:
        return self.store.stat(self.path)

    def listdir(self) -> list[str]:
        return self.store.listdir(self.path)

    def delete(self) -> None:
        self.store.delete(self.path)

    def exists(self) -> bool:
        return self.store.exists(self.path)
