"""What a request from outside may touch: the prefixes its operator allowed.

A served function (``mlrun serve --allow PREFIX``, ``$MLRUN_SERVE_ALLOW``) and the run server
(``mlrun server --artifact-root PREFIX``, ``$MLRUN_ARTIFACT_ROOTS``) check every path and URL a
request names against an ``AccessPolicy`` before any byte moves.  A prefix is a local directory
(or ``file://`` URL), ``s3://bucket[/prefix]``, ``http(s)://host[:port][/prefix]``, or ``*`` for
everything.  Local paths are resolved first, symlinks included, so a link inside an allowed
folder cannot lead out of it; URLs are matched on whole path segments, and a URL whose path
climbs (``..``) matches nothing.

Local runs (``mlrun run FILE``, ``run_function``) have no policy: the user's own code and
command line are trusted with whatever the user can reach.
"""
from __future__ import annotations

import os
from typing import Iterable

from .errors import AccessDeniedError, InvalidInputError

ALLOW_ANY = "*"


def _split(url: str) -> tuple[str, str, str]:
    """``(scheme, netloc, path)``: ``("", "", real local path)`` for local paths and ``file://`` URLs."""
    if url.startswith("file://"):
        url = url[len("file://"):]
    if "://" not in url:
        return "", "", os.path.realpath(os.path.expanduser(url))
    scheme, _, rest = url.partition("://")
    netloc, _, path = rest.partition("/")
    scheme, netloc = scheme.lower(), netloc.lower()
    if scheme in ("http", "https"):
        path = path.partition("?")[0].partition("#")[0]
        default_port = ":80" if scheme == "http" else ":443"
        netloc = netloc.removesuffix(default_port)
    return scheme, netloc, path


def _climbs(path: str) -> bool:
    from urllib.parse import unquote

    return ".." in unquote(path).replace("\\", "/").split("/")


def _under(path: str, root: str, sep: str) -> bool:
    """``path`` is ``root`` or inside it, on whole segments (``/data`` does not hold ``/database``)."""
    root = root.rstrip(sep)
    return not root or path == root or path.startswith(root + sep)


class AccessPolicy:
    """A set of allowed prefixes; ``check(url)`` refuses anything outside them with ``AccessDeniedError``."""

    def __init__(self, prefixes: Iterable[str] = ()):
        self.prefixes = [str(p).strip() for p in prefixes if str(p).strip()]
        self.allow_any = ALLOW_ANY in self.prefixes
        self._roots = []
        for prefix in self.prefixes:
            if prefix == ALLOW_ANY:
                continue
            scheme, netloc, path = _split(prefix)
            if scheme and not netloc:
                raise InvalidInputError(f"allowed prefix {prefix!r} names no bucket or host")
            if scheme and _climbs(path):
                raise InvalidInputError(f"allowed prefix {prefix!r} must not contain '..'")
            self._roots.append((scheme, netloc, path))

    @classmethod
    def from_text(cls, text: str) -> "AccessPolicy":
        """From a comma-separated list (the form of ``$MLRUN_SERVE_ALLOW`` and ``$MLRUN_ARTIFACT_ROOTS``)."""
        return cls(part for part in (text or "").split(","))

    def __repr__(self) -> str:
        return f"AccessPolicy({self.prefixes!r})"

    def __bool__(self) -> bool:
        return bool(self.prefixes)

    def allows(self, url: str) -> bool:
        if self.allow_any:
            return True
        scheme, netloc, path = _split(url)
        if scheme and (not netloc or _climbs(path)):
            return False
        sep = os.sep if not scheme else "/"
        return any(scheme == s and netloc == n and _under(path, p, sep) for s, n, p in self._roots)

    def check(self, url: str, action: str = "read") -> None:
        """Refuse ``url`` unless an allowed prefix holds it; ``action`` ("read", "write") is for the message."""
        if not self.allows(url):
            allowed = ", ".join(self.prefixes) if self.prefixes else "nothing"
            raise AccessDeniedError(f"not allowed to {action} {url} (allowed: {allowed})")
