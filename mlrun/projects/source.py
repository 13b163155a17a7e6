"""Bringing a project's files into its context folder: a folder, an archive or a git repository.

Archives are extracted member by member: a member that would land outside the folder (``../x``, an absolute
path, a link) is refused, and so is an archive whose members add up past ``MAX_EXTRACTED`` bytes or
``MAX_MEMBERS`` entries, before anything is written.  Git repositories are cloned with the ``git`` program.
"""
from __future__ import annotations

import os
import shutil
import subprocess

from ..errors import InvalidInputError, MLRunError

#: the most bytes an archive may unpack to, and the most entries it may have
MAX_EXTRACTED = 1024 * 1024 * 1024
MAX_MEMBERS = 100_000
#: seconds a clone may take
GIT_TIMEOUT = 300.0
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


def is_archive(url: str) -> bool:
    return url.lower().endswith(ARCHIVE_SUFFIXES)


def is_git(url: str) -> bool:
    """A git URL (``git://``, ``*.git``, ``file://`` of a repository) or a local folder that is a repository."""
    if url.startswith("git://") or url.endswith(".git"):
        return True
    path = url.removeprefix("file://")
    return os.path.isdir(os.path.join(path, ".git"))


def fetch(url: str, context: str) -> None:
    """Put the project at ``url`` (a folder, an archive, a git URL) into the folder ``context``."""
    os.makedirs(context, exist_ok=True)
    if is_git(url):
        clone(url, context)
    elif is_archive(url.removeprefix("file://")):
        extract(url.removeprefix("file://"), context)
    elif os.path.isdir(url.removeprefix("file://")):
        source = url.removeprefix("file://")
        if os.path.realpath(source) != os.path.realpath(context):
            shutil.copytree(source, context, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
    else:
        raise InvalidInputError(f"project source {url!r} is not a folder, a .zip/.tar.gz archive or a git URL")


def clone(url: str, context: str) -> None:
    """``git clone url context`` (``git://...#branch``: that branch); the folder must be empty or missing."""
    url, _, branch = url.partition("#")
    if os.listdir(context):
        raise InvalidInputError(f"cannot clone {url} into {context}: the folder is not empty")
    # "--" ends the options: a URL or branch starting with "-" is never read as one of git's options
    command = ["git", "clone", "--quiet", *([f"--branch={branch}"] if branch else []), "--", url, context]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=GIT_TIMEOUT,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except FileNotFoundError:
        raise MLRunError("loading a project from git needs the git program on PATH") from None
    except subprocess.TimeoutExpired:
        raise MLRunError(f"git clone {url} took more than {GIT_TIMEOUT:.0f}s") from None
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise MLRunError(f"git clone {url} failed: {last}")


def extract(path: str, context: str) -> None:
    """Extract the archive ``path`` into ``context``, refusing members outside it and archives too large."""
    if not os.path.isfile(path):
        raise InvalidInputError(f"project archive not found: {path}")
    root = os.path.realpath(context)
    if path.lower().endswith(".zip"):
        import zipfile

        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check(path, root, [(m.filename, m.file_size, False) for m in members])
            for member in members:
                archive.extract(member, root)
        return
    import tarfile

    with tarfile.open(path) as archive:
        members = archive.getmembers()
        _check(path, root, [(m.name, m.size, not (m.isfile() or m.isdir())) for m in members])
        for member in members:
            archive.extract(member, root, set_attrs=False, filter="data")


def _check(archive: str, root: str, members: list[tuple[str, int, bool]]) -> None:
    if len(members) > MAX_MEMBERS:
        raise InvalidInputError(f"project archive {archive} has more than {MAX_MEMBERS} entries")
    if sum(size for _name, size, _special in members) > MAX_EXTRACTED:
        raise InvalidInputError(f"project archive {archive} unpacks to more than {MAX_EXTRACTED} bytes")
    for name, _size, special in members:
        target = os.path.realpath(os.path.join(root, name))
        if special or os.path.isabs(name) or os.path.commonpath([root, target]) != root:
            raise InvalidInputError(f"project archive {archive}: member {name!r} is a link or lands outside the "
                                    "project folder")
