"""What the fault tests break and how they watch: a TCP proxy that can be cut or frozen, a PostgreSQL cluster of
their own that can be stopped, killed or frozen (SIGSTOP), and polling helpers (fixtures: ``conftest.py``)."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading

from helpers import free_port, pid_gone, poll


def children_of(pid: int) -> list[int]:
    """Every descendant of ``pid`` (children first)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fp:
            direct = [int(p) for p in fp.read().split()]
    except OSError:
        return []
    return direct + [grand for child in direct for grand in children_of(child)]


class FaultProxy:
    """A TCP relay on 127.0.0.1 to ``target_port``: ``cut()`` drops every connection and refuses new ones (a lost
    endpoint), ``freeze()`` holds every byte both ways (a hung one), ``drop_answers()`` forwards requests but
    never the answers (a reply lost after the work was done), ``heal()`` relays again."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.mode = "relay"
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.flowing = threading.Condition(self.lock)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "cut":
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src, dst, answers: bool) -> None:
        try:
            while data := src.recv(65536):
                with self.lock:
                    self.flowing.wait_for(lambda: self.mode != "freeze")
                    if self.mode == "cut":
                        break
                    if answers and self.mode == "drop_answers":
                        continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def _set(self, mode: str) -> None:
        with self.lock:
            self.mode = mode
            self.flowing.notify_all()
            if mode == "cut":
                for sock in self.sockets:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                self.sockets = []

    def cut(self) -> None:
        self._set("cut")

    def freeze(self) -> None:
        self._set("freeze")

    def drop_answers(self) -> None:
        self._set("drop_answers")

    def heal(self) -> None:
        self._set("relay")

    def close(self) -> None:
        self._set("cut")
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


class PGCluster:
    """A PostgreSQL cluster of one test module's own, reached through a ``FaultProxy`` (so it keeps its address
    when restarted): ``stop()`` (a clean shutdown), ``kill()`` (SIGKILL, every process), ``freeze()``/``thaw()``
    (SIGSTOP/SIGCONT, every process), ``start()``."""

    def __init__(self):
        from pgserver import PGServer, init_cluster

        self.base = tempfile.mkdtemp(prefix="mlrun-pg-faults-")
        os.chmod(self.base, 0o755)
        self.datadir = os.path.join(self.base, "data")
        init_cluster(self.datadir)
        self.proc: subprocess.Popen | None = None
        self.proxy = FaultProxy(1)
        self.server = PGServer(self.proxy.port)

    def start(self) -> None:
        from pgserver import _as_owner, _wait_ready, pg_bin

        port = free_port()
        sockdir = os.path.join(self.base, "sock")
        os.makedirs(sockdir, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(sockdir, "postgres")
        self.proxy.target_port = port
        self.proxy.heal()
        log_path = os.path.join(self.base, "postgres.log")
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(_as_owner([
                pg_bin("postgres"), "-D", self.datadir, "-c", "listen_addresses=127.0.0.1", "-p", str(port), "-k",
                sockdir, "-c", "fsync=off", "-c", "synchronous_commit=off"]), stdout=log, stderr=subprocess.STDOUT)
        _wait_ready(self.server, self.proc, log_path)

    def postmaster(self) -> int:
        with open(os.path.join(self.datadir, "postmaster.pid")) as fp:
            return int(fp.readline())

    def _signal_all(self, signum: int) -> None:
        main = self.postmaster()
        for pid in [main, *children_of(main)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def freeze(self) -> None:
        self._signal_all(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal_all(signal.SIGCONT)
        if self.proc is not None:  # runuser stops itself when its child stops (job control): it goes on too
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        main = self.postmaster()
        self._signal_all(signal.SIGKILL)
        poll(lambda: pid_gone(main), what="postgres to die")
        self.proc.wait(10)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.datadir, "postmaster.pid"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
                self.thaw()
                os.kill(self.postmaster(), signal.SIGINT)  # fast shutdown: connections are ended
            self.proc.wait(30)

    def new_database(self) -> str:
        return self.server.new_database()

    def close(self) -> None:
        self.stop()
        self.proxy.close()
        shutil.rmtree(self.base, ignore_errors=True)


