"""What every data store provides, and the ``DataItem`` user code holds.

A back end implements a few primitives (``open``, ``stat``, and where it can: ``listdir``,
``delete``, and ``upload``/``download`` when it can do better than streaming through ``open``);
everything else is built here once.
"""
from __future__ import annotations

import itertools
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import NotFoundError, StoreError
from .progress import transfer_progress

CHUNK_SIZE = 1024 * 1024


@dataclass
class FileStat:
    #: bytes; -1 when the back end cannot tell
    size: int
    #: last modification time, ISO-8601
    modified: str = ""
    #: a content tag from the back end (S3 and HTTP ETag, MD5 for memory); empty when it has none
    etag: str = ""


class _TempNames:
    """Names for temp files: ``.mlrun-HOST-PID-RANDOM-N.tmp``, a prefix per process and a counter.

    Not a random name per file: that is a system call per write, and in a threaded server each
    system call lets the other threads take the interpreter lock.  A forked child draws a new prefix.
    The host and process id in the name tell a temp file whose writer died (``sweep_temp``).
    """

    def __init__(self):
        self.renew()

    def renew(self) -> None:
        self.prefix, self.counter = f"{HOST_TAG}-{os.getpid()}-{os.urandom(3).hex()}", itertools.count()

    def __call__(self, folder: str) -> str:
        sweep_temp(folder)
        return os.path.join(folder, self.basename())

    def basename(self) -> str:
        """A new temp file name, for a folder already swept."""
        return f".mlrun-{self.prefix}-{next(self.counter)}.tmp"


def _host_tag() -> str:
    import zlib

    return f"{zlib.crc32(os.uname().nodename.encode()) & 0xFFFFFF:06x}" if hasattr(os, "uname") else "000000"


#: this machine, in temp file names: only a writer of this machine is known dead by its process id
HOST_TAG = _host_tag()
_swept: set[str] = set()


def dead_writer_temp(name: str) -> bool:
    """Whether ``name`` is a temp file (``.mlrun-HOST-PID-...tmp``) whose writer, a process of this machine, is gone."""
    parts = name.split("-")
    if not (name.startswith(".mlrun-") and name.endswith(".tmp") and len(parts) == 5 and parts[1] == HOST_TAG
            and parts[2].isdigit()):
        return False
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def sweep_temp(folder: str) -> list[str]:
    """Remove the temp files writers that died (a SIGKILL mid-write) left in ``folder``; once per folder and
    process (the first write there), so it costs one listing.  The paths removed."""
    if folder in _swept:
        return []
    if len(_swept) > 10_000:
        _swept.clear()
    _swept.add(folder)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in names:
        if dead_writer_temp(name):
            with suppress(OSError):
                os.unlink(os.path.join(folder, name))
                removed.append(os.path.join(folder, name))
    return removed


temp_name = _TempNames()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=temp_name.renew)


def create_temp(folder: str) -> tuple[int, str]:
    """``(fd, name)`` of a new file in ``folder`` (created when missing), to be renamed into place.

    Not mkstemp: its 0600 mode would stay on the file once renamed; this honours the umask.
    """
    name = temp_name(folder)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(name, flags, 0o666), name
    except FileNotFoundError:  # the folder is made only when missing: a mkdir per write costs more than a small write
        os.makedirs(folder, exist_ok=True)
        return os.open(name, flags, 0o666), name


#: a file at least this large that a write replaces is freed by a thread: the writer does not wait while the file
#: system frees its blocks (an 83 MB file: ~45 ms)
FREE_LATER_SIZE = 8 * 1024 * 1024


def replace(tmp: str, target: str, dir_fd: int | None = None) -> None:
    """``os.replace(tmp, target)`` (names relative to ``dir_fd`` when given: a rename over a link, never through
    it).  A large file it replaces keeps a second name, a temp name, until a thread unlinks it (``sweep_temp``
    removes it if this process dies first)."""
    aside = _aside(target, dir_fd)
    try:
        os.replace(tmp, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        if aside:
            with suppress(OSError):
                os.unlink(aside, dir_fd=dir_fd)
        raise
    if aside:
        import threading

        fd = None if dir_fd is None else os.dup(dir_fd)
        threading.Thread(target=_unlink_aside, args=(aside, fd), name="mlrun-free-replaced").start()


def _aside(target: str, dir_fd: int | None) -> str | None:
    """A second name for ``target`` when it is a large plain file with one name; ``None`` otherwise."""
    import stat

    try:
        st = os.stat(target, dir_fd=dir_fd, follow_symlinks=False)
        if not (stat.S_ISREG(st.st_mode) and st.st_size >= FREE_LATER_SIZE and st.st_nlink == 1):
            return None
        aside = os.path.join(os.path.dirname(target), temp_name.basename())  # beside the write's own temp file
        os.link(target, aside, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        return aside
    except OSError:  # no hard links here (some network file systems): the rename frees the file itself
        return None


def _unlink_aside(aside: str, dir_fd: int | None) -> None:
    try:
        with suppress(OSError):
            os.unlink(aside, dir_fd=dir_fd)
    finally:
        if dir_fd is not None:
            os.close(dir_fd)


def unlink_quietly(path: str) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temp name beside ``path`` to write; the file becomes ``path`` only when the block ends without error.

    The name is new and not created here: writing into an existing empty file (truncating it) or
    renaming over one makes ext4 flush it to disk at once, which costs large copies dearly.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = temp_name(folder)
    try:
        yield tmp
        replace(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise


class TempFileWriter:
    """A binary file object whose content is handed to ``commit(temp_path)`` when it closes without error.

    On an error in a ``with`` block the content is discarded, so nothing half-written ever lands.
    """

    def __init__(self, commit: Callable[[str], None], folder: str | None = None):
        fd, self.name = create_temp(folder or tempfile.gettempdir())
        self._fp = os.fdopen(fd, "wb")
        self._commit = commit
        self.closed = False

    def write(self, data: bytes) -> int:
        return self._fp.write(data)

    def writable(self) -> bool:
        return True

    def __enter__(self) -> TempFileWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._finish(commit=exc_type is None)

    def close(self) -> None:
        self._finish(commit=True)

    def _finish(self, commit: bool) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._fp.close()
            if commit:
                self._commit(self.name)
        finally:
            unlink_quietly(self.name)  # gone already when the commit renamed it into place


def split_url(url: str) -> tuple[str, str, str]:
    """``s3://bucket/key`` -> ("s3", "bucket", "/key"); a plain path -> ("", "", path)."""
    if "://" not in url:
        return "", "", url
    scheme, _, rest = url.partition("://")
    netloc, _, path = rest.partition("/")  # not urlparse: '?' and '#' are plain characters in object keys
    return scheme.lower(), netloc, "/" + path


def join_url(base: str, key: str) -> str:
    """``key`` under ``base``, a folder or a URL (joined with ``/``)."""
    if "://" in base:
        return base.rstrip("/") + "/" + key
    return os.path.join(base, key)


class DataStore(ABC):
    """One back end: files, an object store, a web server, ... ``netloc`` is the bucket or host."""

    #: the URL scheme this store serves, for messages
    scheme = ""

    def __init__(self, netloc: str = "", secrets: Mapping | None = None):
        self.netloc = netloc
        self.secrets = secrets or {}

    def local_path(self, path: str) -> str | None:
        """``path`` as a file on this machine, for stores that keep files here (``NotFoundError`` when it is
        missing); ``None`` for the others, whose data items download a copy."""
        return None

    def path_of(self, url: str) -> str:
        """The back-end path of ``url`` (what the primitives below take)."""
        return split_url(url)[2]

    def url_of(self, path: str) -> str:
        """The URL of ``path`` on this store (the inverse of ``path_of``), for messages."""
        return f"{self.scheme}://{self.netloc}/{path.lstrip('/')}" if self.scheme else path

    @abstractmethod
    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        """A binary stream for reading (``rb``) or writing (``wb``; the object appears when it is closed)."""

    @abstractmethod
    def stat(self, path: str) -> FileStat:
        """Size, modification time and tag; ``NotFoundError`` when there is no such object."""

    def read(self, path: str) -> tuple[bytes, FileStat | None]:
        """The whole content, and the stat of the version read when reading tells it (else ``None``).

        Back ends that learn size, time and tag from the read itself (a GET's headers, an open
        file's ``fstat``) return them: lineage then describes exactly what was read, for no
        second request.
        """
        with self.open(path, "rb") as fp:
            return fp.read(), None

    def get(self, path: str) -> bytes:
        return self.read(path)[0]

    def put(self, path: str, data: bytes) -> None:
        with self.open(path, "wb") as fp:
            fp.write(data)

    def upload(self, path: str, local_path: str) -> None:
        size = os.path.getsize(local_path)
        with open(local_path, "rb") as src, self.open(path, "wb") as dst:
            _copy(src, dst, transfer_progress(f"upload {os.path.basename(path)}", size))

    def download(self, path: str, local_path: str) -> None:
        """Stream into ``local_path``; the file appears whole or not at all."""
        progress = transfer_progress(f"download {os.path.basename(path)}", lambda: self.stat(path).size)
        with atomic_path(local_path) as tmp, self.open(path, "rb") as src, open(tmp, "wb") as dst:
            _copy(src, dst, progress)

    def listdir(self, path: str) -> list[str]:
        raise StoreError(f"{self.scheme or 'this'} data store cannot list {self.url_of(path)}")

    def delete(self, path: str) -> None:
        raise StoreError(f"{self.scheme or 'this'} data store cannot delete {self.url_of(path)}")

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
            return True
        except (NotFoundError, FileNotFoundError):
            return False


def _copy(src, dst, progress) -> None:
    with progress as update:
        while chunk := src.read(CHUNK_SIZE):
            dst.write(chunk)
            if update is not None:
                update(len(chunk))


class DataItem:
    """An object at a URL, as run code sees it: ``get()``, ``local()``, ``open()``, ``put()``, ``as_df()``, ..."""

    def __init__(self, store: DataStore, path: str, url: str, key: str = ""):
        self.store = store
        self.path = path
        self.url = url
        self.key = key
        #: the artifact entry behind a ``store://`` URI (``None`` for plain URLs), and the URI itself
        self.meta: dict | None = None
        self.artifact_url = url
        self._local_path = ""
        #: called as ``on_read(item, content, stat)`` once content was read: ``content`` is the bytes
        #: read, a local file holding them, or ``None`` for a stream; ``stat`` is the version read,
        #: when the read told it, else ``None`` (run contexts record lineage there)
        self.on_read: Callable | None = None

    def __repr__(self) -> str:
        return f"DataItem({self.url!r})"

    def _read_done(self, content: bytes | str | None, stat: FileStat | None = None) -> None:
        if self.on_read is not None:
            self.on_read(self, content, stat)

    def get(self, encoding: str | None = None) -> bytes | str:
        """The whole content: bytes, or text when ``encoding`` is given."""
        data, stat = self.store.read(self.path)
        self._read_done(data, stat)
        return data.decode(encoding) if encoding else data

    def open(self, mode: str = "rb") -> BinaryIO:
        """A binary stream: ``rb`` to read without holding the whole content, ``wb`` to write."""
        if mode not in ("r", "rb", "w", "wb"):
            from ..errors import InvalidInputError

            raise InvalidInputError(f"cannot open {self.url} in mode {mode!r} (use 'rb' or 'wb')")
        stream = self.store.open(self.path, mode if "b" in mode else mode + "b")
        if "r" in mode:
            self._read_done(None)
        return stream

    def local(self) -> str:
        """A local file with the content: the file itself for local paths, else a cached download.

        Downloads land in ``$MLRUN_HOME/cache`` (``~/.mlrun/cache``) and are reused while the
        object's tag or modification time is unchanged.
        """
        stat = None
        if not self._local_path:
            self._local_path = self.store.local_path(self.path)
            if self._local_path is None:
                self._local_path, stat = self._cached_download()
        self._read_done(self._local_path, stat)
        return self._local_path

    def _cached_download(self) -> tuple[str, FileStat]:
        import hashlib

        from ..config import home_dir

        stat = self.store.stat(self.path)
        version = stat.etag or stat.modified
        name = os.path.basename(self.path.rstrip("/")) or "data"
        digest = hashlib.sha256(f"{self.url}\n{version}\n{stat.size}".encode()).hexdigest()[:16]
        path = os.path.join(home_dir(), "cache", f"{digest}-{name}")
        if not (version and os.path.isfile(path) and os.path.getsize(path) == stat.size):
            self.store.download(self.path, path)
        return path, stat

    def download(self, local_path: str) -> str:
        """Copy the content to ``local_path`` (atomically) and return it."""
        self.store.download(self.path, local_path)
        self._read_done(local_path)
        return local_path

    def put(self, data: bytes | str) -> None:
        self.store.put(self.path, data.encode("utf-8") if isinstance(data, str) else data)

    def upload(self, local_path: str) -> None:
        self.store.upload(self.path, local_path)

    def stat(self) -> FileStat:
        return self.store.stat(self.path)

    def listdir(self) -> list[str]:
        """Names directly under this item, taken as a folder or key prefix."""
        return self.store.listdir(self.path)

    def delete(self) -> None:
        self.store.delete(self.path)

    def exists(self) -> bool:
        return self.store.exists(self.path)

    def as_df(self, columns: list | None = None, format: str = "", **kwargs):
        """The content as a pandas DataFrame: ``format`` (``csv``, ``parquet``, ``json``, ``jsonl``, ``feather``)
        else the artifact's or the file name's; ``columns`` picks columns; ``kwargs`` go to pandas' reader."""
        from .dataframes import read_df

        return read_df(self, columns, format, **kwargs)

    def show(self, format: str = "") -> None:
        """Show the content: a table's first rows, an image, or text (as HTML in a notebook, else printed)."""
        from .dataframes import show

        show(self, format)
