"""Served functions: kinds ``nuclio`` and ``remote``.

``fn.deploy()`` writes the function's nuclio bundle (``mlrun function-config --bundle``: ``function.yaml``, the
code, mlrun's wheel) and, where no nuclio platform is configured, serves the function on this machine with
``mlrun serve`` (127.0.0.1, a free port, a fresh bearer token) and returns its URL.  ``fn.invoke(path, body,
method)`` calls it; ``fn.run()`` runs it remotely (``mlrun.runtimes.remote``: the same record as every run).
A nuclio platform (``$MLRUN_NUCLIO_DASHBOARD``) needs ``nuctl``: ``deploy`` says so in one line and leaves the bundle.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

from ..errors import MLRunError, MLRunInvalidArgumentError
from .base import Function

#: a nuclio dashboard's URL: deploying there takes ``nuctl`` (and a cluster), which this package does not drive
DASHBOARD_ENV = "MLRUN_NUCLIO_DASHBOARD"
#: seconds ``deploy`` waits for the local server to answer
START_TIMEOUT = 60.0
#: the nuclio handler a bundle of a plain handler gets (the plain one wrapped by ``nuclio_handler``)
WRAPPED_HANDLER = "mlrun_nuclio_handler"


class NuclioFunction(Function):
    kind = "nuclio"
    label = "remote"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._server: subprocess.Popen | None = None
        self._token = ""

    # -- deploying ----------------------------------------------------------------------------------------
    def deploy(self, project: str = "", tag: str = "", verbose: bool = False, bundle_dir: str = "",
               env: Mapping[str, str] | None = None, allow: tuple = ()) -> str:
        """Write the bundle (into ``bundle_dir``, default ``$MLRUN_HOME/functions/<name>``) and serve the function
        locally; its URL (also ``fn.status.address``).  ``allow``: paths and URLs the served runs may read and write
        besides the bundle's folder, where the function runs (``mlrun serve --allow``): the caller's own files
        are out of its reach unless allowed here."""
        from ..config import home_dir
        from ..deploy.bundle import write_bundle
        from .code import write_text

        self.metadata.project = project or self.metadata.project
        self.metadata.tag = tag or self.metadata.tag
        name = self.metadata.name or "function"
        handler = self.spec.default_handler or "handler"
        directory = bundle_dir or os.path.join(home_dir(), "functions", name)
        code_path = os.path.join(directory, f"{_module_name(name)}.py")
        write_text(code_path, self._bundle_source(handler))
        nuclio_handler = handler if self._is_nuclio_form(handler) else WRAPPED_HANDLER
        env = {**{e["name"]: e.get("value", "") for e in self.spec.env if "name" in e}, **dict(env or {})}
        write_bundle(f"{code_path}:{nuclio_handler}", directory, name=_dns_name(name),
                     requirements=list(self.spec.build.requirements), env=env)
        self.status.state = "bundled"
        if os.environ.get(DASHBOARD_ENV):
            raise MLRunError(f"deploying to the nuclio platform at ${DASHBOARD_ENV} needs nuctl and a cluster: run "
                             f"nuctl deploy --path {directory} --file {directory}/function.yaml")
        return self._serve(code_path, handler, env, allow, verbose)

    def _bundle_source(self, handler: str) -> str:
        code = self.code
        if not code:
            raise MLRunInvalidArgumentError(f"function {self.metadata.name or '?'!r} has no code to deploy")
        if self._is_nuclio_form(handler):
            return code
        return (f"{code.rstrip()}\n\n\n# the nuclio handler of this bundle: {handler} wrapped\n"
                f"from mlrun.adapters.nuclio import nuclio_handler as _nuclio_handler  # noqa: E402\n"
                f"{WRAPPED_HANDLER} = _nuclio_handler({handler})\n")

    def _is_nuclio_form(self, handler: str) -> bool:
        from ..loader import handler_form

        return handler_form(self.handler_callable(handler)) == "nuclio"

    def _serve(self, code_path: str, handler: str, env: Mapping[str, str], allow: tuple, verbose: bool) -> str:
        from ..runtimes.remote import register_token

        self.stop()
        self._server, address, self._token = serve_locally(
            f"{code_path}:{handler}", os.path.dirname(code_path), ("--name", self.metadata.name or handler),
            allow, env, verbose)
        register_token(address, self._token)
        self.status.address, self.status.state = address, "ready"
        self.status.external_invocation_urls = [address]
        self.status.nuclio_name = _dns_name(self.metadata.name or "function")
        return address

    def stop(self) -> None:
        """Stop the function this object serves on this machine (if it does)."""
        server, self._server = self._server, None
        if server is not None:
            stop_server(server)
            self.status.state = "stopped"

    # -- calling ------------------------------------------------------------------------------------------
    def invoke(self, path: str = "", body=None, method: str = "", headers: Mapping | None = None,
               timeout: float = 60.0):
        """Call the deployed function: ``path`` on its URL, ``body`` (a mapping or list as JSON, else bytes/text);
        ``method`` defaults to ``POST`` with a body, else ``GET``.  The answer decoded from JSON when it is JSON,
        else its text; an HTTP error answer raises ``MLRunError`` with its status and first line.  The call and
        its answer take at most ``timeout`` seconds and ``$MLRUN_INVOKE_MAX_ANSWER`` bytes (64 MiB)."""
        sent = {**({"Authorization": f"Bearer {self._token}"} if self._token else {}), **dict(headers or {})}
        name = self.metadata.name or "?"
        answer = call(self._address(), path, body, method, sent, timeout, f"function {name!r}")
        if answer.status_code >= 400:
            from ..protocol import answer_error

            raise MLRunError(f"function {name!r} answered HTTP {answer.status_code}: {answer_error(answer.content)}")
        return answer.json() if "json" in answer.headers.get("Content-Type", "") else answer.text

    def _address(self) -> str:
        if not self.status.address:
            raise MLRunInvalidArgumentError(f"function {self.metadata.name or '?'!r} is not deployed: call "
                                            "fn.deploy() first (or run it with local=True)")
        return self.status.address

    def _run_target(self, handler, local: bool, init_args=None) -> dict:
        if local:
            return super()._run_target(handler, local, init_args)
        if handler and handler != (self.spec.default_handler or "handler"):
            raise MLRunInvalidArgumentError(f"the deployed function {self.metadata.name or '?'!r} serves handler "
                                            f"{self.spec.default_handler or 'handler'!r}, not {handler!r} (run it "
                                            "with local=True, or deploy that handler)")
        return {"command": self._address()}


class RemoteFunction(NuclioFunction):
    """MLRun 1.x's kind ``remote``: a served function (its URL in ``status.address``, or deployed here)."""

    kind = "remote"


def _module_name(name: str) -> str:
    stem = "".join(c if c.isalnum() else "_" for c in name) or "function"
    return stem if stem[0].isalpha() else f"fn_{stem}"


def _dns_name(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "function"


#: the largest answer ``invoke`` reads, in bytes
INVOKE_MAX_ANSWER_ENV = "MLRUN_INVOKE_MAX_ANSWER"


def serve_locally(target: str, folder: str, args: tuple = (), allow: tuple = (), env: Mapping | None = None,
                  verbose: bool = False) -> tuple[subprocess.Popen, str, str]:
    """Start ``mlrun serve TARGET ARGS`` on 127.0.0.1 at a free port with a fresh token, from ``folder`` (where its
    output goes, ``serve.log``, unless ``verbose``); ``(process, address, token)`` once it answers.  Stopped when
    this process ends.  The token goes by environment: a command line is visible to every user of the machine."""
    import atexit
    import secrets

    from ..protocol import TOKEN_ENV

    port, token = _free_port(), secrets.token_urlsafe(24)
    command = [sys.executable, "-m", "mlrun", "serve", target, "--host", "127.0.0.1", "--port", str(port), *args]
    for prefix in allow:
        command += ["--allow", prefix]
    log_path = os.path.join(folder, "serve.log")
    with open(log_path, "wb") as log:  # the server's access log and errors; the child holds its own copy
        server = subprocess.Popen(command, env={**os.environ, **dict(env or {}), TOKEN_ENV: token}, cwd=folder,
                                  stdin=subprocess.DEVNULL, stdout=None if verbose else log,
                                  stderr=None if verbose else subprocess.STDOUT)
    atexit.register(stop_server, server)
    address = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(address, server, log_path)
    except BaseException:
        stop_server(server)
        raise
    return server, address, token


def stop_server(server: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a server ``serve_locally`` started (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def call(address: str, path: str = "", body=None, method: str = "", headers: Mapping | None = None,
         timeout: float = 60.0, what: str = "the function"):
    """``method`` (default: ``POST`` with a body, else ``GET``) on ``address`` + ``path`` with ``body`` (a mapping
    or list as JSON, else bytes or text as they are); the answer, read whole within ``timeout`` seconds and
    ``$MLRUN_INVOKE_MAX_ANSWER`` bytes.  An address that cannot be reached is one ``MLRunError`` naming ``what``."""
    import json

    import requests

    from .. import transport

    method = (method or ("POST" if body is not None else "GET")).upper()
    sent = dict(headers or {})
    if isinstance(body, (Mapping, list)):
        body = json.dumps(body)
        sent.setdefault("Content-Type", "application/json")
    url = f"{address.rstrip('/')}/{path.lstrip('/')}" if path else address
    with transport.session() as http:
        try:
            return transport.request(http, method, url, data=body, headers=sent, deadline=timeout,
                                     limit=transport.env_bytes(INVOKE_MAX_ANSWER_ENV, 64 * 1024 * 1024),
                                     limit_env=INVOKE_MAX_ANSWER_ENV)
        except requests.RequestException as exc:
            raise MLRunError(f"cannot reach {what} at {url}: {type(exc).__name__}") from None


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(address: str, server: subprocess.Popen, log_path: str) -> None:
    """Poll ``GET /healthz`` until it answers, within ``START_TIMEOUT``; a server that ended says why."""
    import time

    import requests

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            with open(log_path, "rb") as log:
                reason = log.read().decode(errors="replace").strip().splitlines()
            raise MLRunError(f"the local server of the function ended at start (exit {server.returncode}): "
                             f"{reason[-1] if reason else 'no message'}")
        try:
            requests.get(f"{address}/healthz", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.05)
    server.terminate()
    raise MLRunError(f"the function's local server did not answer within {START_TIMEOUT:.0f}s")
