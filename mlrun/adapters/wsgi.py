"""Serving a WSGI app on waitress, for ``mlrun serve`` and ``mlrun server``.

One process serves with ``threads`` threads.  Python runs one thread at a time, so CPU-bound
handlers scale with processes, not threads: ``workers > 1`` forks that many processes that share
one listening socket (each with ``threads`` threads), the way pre-forking servers do.
"""
from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable

from ..errors import InvalidInputError, MLRunError
from ..policy import is_loopback
from ..protocol import TOKEN_ENV


def check_listen(host: str, token: str | None, insecure: bool = False, token_env: str = TOKEN_ENV) -> None:
    """Refuse (``InvalidInputError``) to serve beyond this machine without a token, unless ``insecure``.

    ``token_env``: the variable the message tells to set (``mlrun serve``'s, or ``$MLRUN_TOKEN`` for ``mlrun server``).
    """
    if not token and not insecure and not is_loopback(host):
        raise InvalidInputError(f"refusing to listen on {host} without a token: "
                                f"set ${token_env} or --token, or pass --insecure")


def _stop(signum, frame):
    raise KeyboardInterrupt


def run_server(app, host: str = "127.0.0.1", port: int = 8080, threads: int = 4, workers: int = 1,
               max_request_body_size: int = 1024 ** 3, announce: Callable[[int], None] = lambda port: None) -> None:
    """Serve ``app`` until SIGINT or SIGTERM; ``announce`` gets the port listened on (useful with port 0)."""
    from waitress import create_server

    options = dict(threads=threads, ident="mlrun", max_request_body_size=max_request_body_size)
    try:
        # resolved first: waitress turns a name that does not resolve into a bare "Invalid host/port specified."
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        if workers <= 1:
            server = create_server(app, host=host, port=port, **options)
            listening = [server]
        else:  # bound here, before forking, so every worker accepts on the same socket
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listening = [socket.create_server((host, port), family=family, backlog=1024)]
    except (OSError, UnicodeError, ValueError) as exc:  # UnicodeError: a name IDNA cannot encode
        raise MLRunError(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from None
    announce(server.effective_port if workers <= 1 else listening[0].getsockname()[1])
    signal.signal(signal.SIGTERM, _stop)
    if workers <= 1:
        _serve_forever(server)
        return

    _serve_workers(lambda: _serve_forever(create_server(app, sockets=listening, **options)), workers, listening[0])


def _serve_workers(serve: Callable[[], None], workers: int, listening: socket.socket) -> None:
    """Fork ``workers`` processes running ``serve()`` on the shared socket; keep them (a dead one is replaced)
    until this process is told to stop, then stop them."""
    parent = os.getpid()
    children: set[int] = set()

    def start_worker() -> None:
        pid = os.fork()
        if pid == 0:  # a worker: serve until told to stop, never return into the parent's code
            try:
                _die_with_parent(parent)
                serve()
            finally:
                os._exit(0)
        children.add(pid)

    try:
        for _ in range(workers):
            start_worker()
        _keep_workers(children, start_worker)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopping: a second SIGTERM must not cut the cleanup short
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        listening.close()


#: a worker that dies sooner than this after its start is restarted only after this long (no crash loop at full speed)
RESTART_DELAY = 1.0


def _keep_workers(children: set[int], start_worker: Callable[[], None]) -> None:
    """Wait on the workers; one that ends (killed, crashed) is replaced, so the server keeps its size."""
    import logging
    import time

    from ..runtimes.local import exit_reason

    started = {pid: time.monotonic() for pid in children}
    while children:
        pid, status = os.wait()
        if pid not in children:
            continue
        children.discard(pid)
        lived = time.monotonic() - started.pop(pid, 0.0)
        logging.getLogger("mlrun.server").warning("worker %d ended (%s); starting another", pid,
                                                  exit_reason(os.waitstatus_to_exitcode(status)))
        if lived < RESTART_DELAY:
            time.sleep(RESTART_DELAY - lived)
        before = set(children)
        start_worker()
        for new in children - before:
            started[new] = time.monotonic()


def _die_with_parent(parent: int) -> None:
    """Have the kernel send this worker SIGTERM when the server's main process dies (even by SIGKILL): a worker
    outliving it would keep the port and serve on unmanaged.  Linux only (``PR_SET_PDEATHSIG``); elsewhere a
    thread watches the parent."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGTERM, 0, 0, 0) != 0:  # 1: PR_SET_PDEATHSIG
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="mlrun-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _serve_forever(server) -> None:
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
