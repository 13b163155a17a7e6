"""Function bundles: a folder that ``nuctl deploy --path DIR --file DIR/function.yaml`` builds offline.

    mlrun function-config handlers/seed_nuclio.py:handler --name myfunc --bundle build/myfunc

The folder holds the handler file, a wheel of this very mlrun and ``function.yaml``, whose build
commands install that wheel with the extras the handler needs from where nuclio puts the folder
(``/opt/nuclio``).  The name ``mlrun`` on the package index belongs to another project, so a
function never installs mlrun by that name; ``--mlrun-requirement`` installs it from somewhere
else (a git URL) instead of the wheel.

The wheel is made from the installed package's own files (a pure-Python package: a zip with the
``.dist-info`` metadata pip needs), so no build backend or network is involved.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import zipfile

from ..errors import InvalidInputError
from ..registry import DISTRIBUTION, DISTRIBUTION_FILENAME
from .nuclio import DEFAULT_EXTRAS, NUCLIO_DIR, POST_COPY, wheel_name, wheel_requirement

__all__ = ["DEFAULT_EXTRAS", "NUCLIO_DIR", "POST_COPY", "build_wheel", "wheel_name", "wheel_requirement",
           "write_bundle"]

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same sources make the same wheel


def build_wheel(directory: str) -> str:
    """Write a wheel of the installed mlrun package into ``directory``; its path.

    Written under a temporary name and renamed: an interrupted build leaves no half-written wheel.
    """
    from .. import __version__

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dist_info = f"{DISTRIBUTION_FILENAME}-{__version__}.dist-info"
    entries: list[tuple[str, bytes]] = []
    for root, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(root, name)
            arcname = "mlrun/" + os.path.relpath(path, package).replace(os.sep, "/")
            with open(path, "rb") as fp:
                entries.append((arcname, fp.read()))
    metadata, entry_points = _metadata(__version__)
    entries += [
        (f"{dist_info}/METADATA", metadata.encode()),
        (f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: mlrun.bundle\nRoot-Is-Purelib: true\n"
                               b"Tag: py3-none-any\n"),
        (f"{dist_info}/entry_points.txt", entry_points.encode()),
    ]
    record = "".join(f"{name},sha256={_digest(data)},{len(data)}\n" for name, data in entries)
    entries.append((f"{dist_info}/RECORD", (record + f"{dist_info}/RECORD,,\n").encode()))

    target = os.path.join(directory, wheel_name())
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".wheel-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as wheel:
            for name, data in entries:
                info = zipfile.ZipInfo(name, _ZIP_TIME)
                info.external_attr, info.compress_type = 0o644 << 16, zipfile.ZIP_DEFLATED
                wheel.writestr(info, data)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from an image's non-root build steps
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return target


def _metadata(version: str) -> tuple[str, str]:
    """``(METADATA, entry_points.txt)``: the installed distribution's, without the long description."""
    from importlib import metadata

    try:
        dist = metadata.distribution(DISTRIBUTION)
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
        entry_points = dist.read_text("entry_points.txt") or ""
    except metadata.PackageNotFoundError:
        text, entry_points = "", ""
    headers = text.split("\n\n", 1)[0].splitlines()
    if f"Name: {DISTRIBUTION}" not in headers:
        raise InvalidInputError("cannot build a wheel of mlrun: it is not installed (pip install -e . in a checkout)")
    headers = [f"Version: {version}" if h.startswith("Version:") else h for h in headers
               if not h.startswith(("Description-Content-Type:", "License-File:"))]
    return "\n".join(headers) + "\n", entry_points or "[console_scripts]\nmlrun = mlrun.cli:main\n"


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_bundle(target: str, directory: str, command: str = "", **options) -> dict:
    """Write the bundle for ``FILE[:HANDLER]`` into ``directory`` (created if needed): its files by role.

    ``options`` go to ``mlrun.deploy.nuclio.function_config`` (name, requirements, env, extras, ...).
    The config is written last, so a folder with a ``function.yaml`` is a complete bundle.
    """
    from ..loader import locate_handler
    from .nuclio import config_yaml, function_config  # noqa: I001

    path, _ = locate_handler(target)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise InvalidInputError(f"bundle directory {directory} is a file")
    config = function_config(target, bundle=True, **options)
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):  # a wheel of another version (or the old name) would be shipped for nothing
        if name.startswith(("mlrun-", f"{DISTRIBUTION_FILENAME}-")) and name.endswith(".whl") and name != wheel_name():
            os.unlink(os.path.join(directory, name))
    handler_copy = os.path.join(directory, os.path.basename(path))
    if os.path.abspath(handler_copy) != os.path.abspath(path):
        _copy(path, handler_copy)
    files = {"handler": handler_copy}
    if not options.get("mlrun_requirement"):
        files["wheel"] = build_wheel(directory)
    config_path = os.path.join(directory, "function.yaml")
    deploy_line = f"nuctl deploy --path {directory} --file {config_path}"
    _write(config_path, config_yaml(config, command, deploy=deploy_line))
    files["config"] = config_path
    return files


def _copy(source: str, target: str) -> None:
    tmp = target + ".tmp"
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fp:
        fp.write(text)
    os.replace(tmp, path)
