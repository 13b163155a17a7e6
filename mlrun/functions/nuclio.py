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
        besides the working directory (``mlrun serve --allow``)."""
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
        import secrets

        from ..protocol import TOKEN_ENV
        from ..runtimes.remote import register_token

        self.stop()
        port = _free_port()
        self._token = secrets.token_urlsafe(24)
        command = [sys.executable, "-m", "mlrun", "serve", f"{code_path}:{handler}", "--host", "127.0.0.1",
                   "--port", str(port), "--name", self.metadata.name or handler]
        for prefix in allow:
            command += ["--allow", prefix]
        # the token goes by environment: a command line is visible to every user of the machine
        child_env = {**os.environ, **dict(env), TOKEN_ENV: self._token}
        log_path = os.path.join(os.path.dirname(code_path), "serve.log")
        with open(log_path, "wb") as log:  # the server's access log and errors; the child holds its own copy
            self._server = subprocess.Popen(command, env=child_env, stdout=None if verbose else log,
                                            stderr=None if verbose else subprocess.STDOUT)
        address = f"http://127.0.0.1:{port}"
        _wait_until_up(address, self._server, log_path)
        register_token(address, self._token)
        self.status.address, self.status.state = address, "ready"
        self.status.external_invocation_urls = [address]
        self.status.nuclio_name = _dns_name(self.metadata.name or "function")
        import atexit

        atexit.register(self.stop)
        return address

    def stop(self) -> None:
        """Stop the function this object serves on this machine (if it does)."""
        server, self._server = self._server, None
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if server is not None:
            self.status.state = "stopped"

    # -- calling ------------------------------------------------------------------------------------------
    def invoke(self, path: str = "", body=None, method: str = "", headers: Mapping | None = None,
               timeout: float = 60.0):
        """Call the deployed function: ``path`` on its URL, ``body`` (a mapping or list as JSON, else bytes/text);
        ``method`` defaults to ``POST`` with a body, else ``GET``.  The answer decoded from JSON when it is JSON,
        else its text; an HTTP error answer raises ``MLRunError`` with its status and first line."""
        import json

        import requests

        address = self._address()
        method = (method or ("POST" if body is not None else "GET")).upper()
        data, send = (json.dumps(body).encode(), {"Content-Type": "application/json"}) if isinstance(
            body, (Mapping, list)) else (body.encode() if isinstance(body, str) else body, {})
        send.update(dict(headers or {}))
        if self._token:
            send["Authorization"] = f"Bearer {self._token}"
        url = f"{address}/{path.lstrip('/')}" if path else address
        try:
            answer = requests.request(method, url, data=data, headers=send, timeout=timeout)
        except requests.RequestException as exc:
            raise MLRunError(f"cannot reach function {self.metadata.name or '?'!r} at {url}: {exc}") from None
        kind = answer.headers.get("Content-Type", "")
        if answer.status_code >= 400:
            line = (answer.text.strip().splitlines() or [""])[0][:300]
            raise MLRunError(f"function {self.metadata.name or '?'!r} answered HTTP {answer.status_code}: {line}")
        return answer.json() if "json" in kind else answer.text

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
