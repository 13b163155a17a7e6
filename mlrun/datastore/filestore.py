"""Local files: plain paths and ``file://`` URLs.  Writes land atomically (temp file, then rename)."""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from stat import S_ISDIR
from typing import BinaryIO

from ..errors import MLRunError, NotFoundError, StoreError
from .base import (
    CHUNK_SIZE,
    DataStore,
    FileStat,
    TempFileWriter,
    atomic_path,
    create_temp,
    replace,
    temp_name,
    unlink_quietly,
)

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


def opened_path(fd: int, path: str) -> str:
    """The real path of what ``fd`` (opened as ``path``) is: asked of the kernel where it can tell (Linux)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc here: the path as it resolves now
        return os.path.realpath(path)


class FileStore(DataStore):
    scheme = "file"
    #: called as ``opened_check(real path, action)`` with what was opened, before a byte moves (a served run's
    #: policy): a link swapped in after the path was checked is judged by where it really led.  Raises to refuse
    opened_check: Callable[[str, str], None] | None = None

    def _check_opened(self, fd: int, path: str, action: str = "read") -> None:
        if self.opened_check is not None:
            try:
                self.opened_check(opened_path(fd, path), action)
            except BaseException:
                os.close(fd)
                raise

    def _write_checked(self, path: str, fill: Callable[[int], None]) -> None:
        """Write ``path`` through a temp file made in its folder as opened: the folder is checked, not its name."""
        folder, name = os.path.split(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        with _os_errors(folder, "directory"):
            dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC)
        self._check_opened(dir_fd, folder, "write")
        try:
            self.opened_check(os.path.join(opened_path(dir_fd, folder), name), "write")
            tmp = os.path.basename(temp_name(folder))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o666, dir_fd=dir_fd)
            try:
                try:
                    fill(fd)
                finally:
                    os.close(fd)
                replace(tmp, name, dir_fd)
            except BaseException:
                with suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=dir_fd)
                raise
        finally:
            os.close(dir_fd)

    def path_of(self, url: str) -> str:
        path = url[len("file://"):] if url.startswith("file://") else url
        return os.path.expanduser(path)

    def url_of(self, path: str) -> str:
        return path

    def local_path(self, path: str) -> str | None:
        if self.opened_check is not None:  # the file as opened and checked: a link re-pointed later is not followed
            with _os_errors(path):
                fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
            self._check_opened(fd, path)
            try:
                return opened_path(fd, path)
            finally:
                os.close(fd)
        if not os.path.isfile(path):
            self.stat(path)  # a clear NotFoundError rather than a bad path later
        return path

    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        if "w" in mode:
            if self.opened_check is not None:  # written aside, then copied in under the checked folder
                return TempFileWriter(lambda tmp: self.upload(path, tmp))  # type: ignore[return-value]
            # the temp file sits beside the target so the final rename stays on one file system
            folder = os.path.dirname(os.path.abspath(path))
            with _write_errors(path):
                return _NamedWriter(lambda tmp: replace(tmp, path), folder, path)  # type: ignore[return-value]
        with _os_errors(path):
            fp = open(path, "rb")  # noqa: SIM115 - handed to the caller, who closes it
        if self.opened_check is not None:
            try:
                self.opened_check(opened_path(fp.fileno(), path), "read")
            except BaseException:
                fp.close()
                raise
        return fp

    def stat(self, path: str) -> FileStat:
        with _os_errors(path):
            return _file_stat(os.stat(path))

    def read(self, path: str) -> tuple[bytes, FileStat]:
        # the stat is the open file's: the version read, even when the path is replaced meanwhile
        with _os_errors(path):
            fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
        self._check_opened(fd, path)
        try:
            st = os.fstat(fd)
            if S_ISDIR(st.st_mode):
                raise StoreError(f"{path} is a directory, not a file")
            return _read_to_end(fd, st.st_size), _file_stat(st)
        finally:
            os.close(fd)

    def put(self, path: str, data: bytes) -> None:
        with _write_errors(path):
            if self.opened_check is not None:
                return self._write_checked(path, lambda fd: _write_all(fd, data))
            self._put(path, data)

    def _put(self, path: str, data: bytes) -> None:
        fd, tmp = create_temp(os.path.dirname(os.path.abspath(path)))
        try:
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            replace(tmp, path)
        except BaseException:
            unlink_quietly(tmp)
            raise

    def upload(self, path: str, local_path: str) -> None:
        if os.path.abspath(path) == os.path.abspath(local_path):
            return
        if not os.path.isfile(local_path):
            raise NotFoundError(f"file not found: {local_path}")
        if self.opened_check is not None:
            with _write_errors(path), open(local_path, "rb") as src:
                return self._write_checked(path, lambda fd: _copy_into(src.fileno(), fd))
        with _write_errors(path), atomic_path(path) as tmp:
            shutil.copyfile(local_path, tmp)  # the kernel's zero-copy path, unlike a read/write loop

    def download(self, path: str, local_path: str) -> None:
        if self.opened_check is not None:  # read through the checked descriptor, not the name
            with self.open(path, "rb") as src, atomic_path(local_path) as tmp, open(tmp, "wb") as dst:
                return _copy_into(src.fileno(), dst.fileno())
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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # one write per 2 GiB at most: a single call would stop short
        view = view[os.write(fd, view):]


def _copy_into(src: int, dst: int) -> None:
    while chunk := os.read(src, CHUNK_SIZE):
        _write_all(dst, chunk)


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
    except MLRunError:  # already says what failed (a refusal by the policy too: it is a PermissionError)
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
