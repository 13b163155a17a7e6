"""A stand-in for nuclio's Python runtime: its processor side and its wrapper side, over unix sockets.

Written from the documented protocol (``/opt/nuclio`` layout, the wrapper's arguments, the
length-prefixed msgpack events, the ``l``/``m``/``r`` answer lines), so a handler runs here as it
runs in a function container.  The processor side (``NuclioProcessor``) is used by the tests; the
wrapper side is this file run as a script, in a process of its own, so the handler's stdout and
stderr are real streams: what it prints is the container's log.  The wrapper side needs only
``nuclio-sdk`` and ``msgpack`` (what nuclio's image has), not mlrun.

    python -u nuclio_harness.py --handler MODULE:FUNC --event-socket-path E --control-socket-path C \\
        --platform-kind local --namespace default --worker-id 0 --trigger-kind http --trigger-name http \\
        [--decode-event-strings]
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field

HARNESS = os.path.abspath(__file__)


# --- the wrapper side (runs in the function's process) -------------------------------------------------------------

class _SocketLog:
    """The logger's stream: each record goes to the processor as an ``l`` line."""

    def __init__(self, sock: socket.socket, lock: threading.Lock):
        self.sock, self.lock = sock, lock

    def write(self, text: str) -> None:
        text = text.rstrip("\n")
        if text:
            with self.lock:
                self.sock.sendall(b"l" + text.encode() + b"\n")

    def flush(self) -> None:
        pass


def _connect(path: str) -> socket.socket:
    for _ in range(60):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except OSError:
            sock.close()
            time.sleep(1)
    raise SystemExit(f"cannot connect to {path}")


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def wrapper_main(argv: list[str]) -> int:
    import importlib
    import logging
    import traceback

    import msgpack
    import nuclio_sdk
    import nuclio_sdk.json_encoder
    import nuclio_sdk.logger
    from nuclio_sdk.event import EventDeserializerKinds, TriggerInfo

    parser = argparse.ArgumentParser()
    for name in ("handler", "event-socket-path", "control-socket-path", "platform-kind", "namespace",
                 "worker-id", "trigger-kind", "trigger-name"):
        parser.add_argument(f"--{name}", default="")
    parser.add_argument("--decode-event-strings", action="store_true")
    args = parser.parse_args(argv)

    module_name, _, function_name = args.handler.partition(":")
    module = importlib.import_module(module_name)
    entrypoint = getattr(module, function_name)

    event_sock, control_sock = _connect(args.event_socket_path), _connect(args.control_socket_path)
    lock = threading.Lock()
    logger = nuclio_sdk.Logger(logging.DEBUG, "nuclio-harness")
    logger.set_handler("processor", _SocketLog(event_sock, lock), nuclio_sdk.logger.JSONFormatter())
    platform = nuclio_sdk.Platform(args.platform_kind, args.namespace)
    context = nuclio_sdk.Context(logger, platform, int(args.worker_id or 0),
                                 TriggerInfo(args.trigger_kind, args.trigger_name))
    if hasattr(module, "init_context"):
        module.init_context(context)
    encoder = nuclio_sdk.json_encoder.Encoder()
    kind = EventDeserializerKinds.msgpack if args.decode_event_strings else EventDeserializerKinds.msgpack_raw
    event_sock.sendall(b"s\n")
    control_sock.sendall(json.dumps({"kind": "wrapperInitialized", "attributes": {"ready": "true"}}).encode() + b"\n")

    while True:
        header = _read_exactly(event_sock, 4)
        if header is None:
            return 0
        payload = _read_exactly(event_sock, struct.unpack(">I", header)[0])
        if payload is None:
            return 0
        event = nuclio_sdk.Event.deserialize(msgpack.unpackb(payload, raw=not args.decode_event_strings), kind)
        start = time.monotonic()
        try:
            answer = nuclio_sdk.Response.from_entrypoint_output(encoder.encode, entrypoint(context, event))
        except Exception as exc:  # what the real wrapper does: a 500 with the traceback, and it goes on serving
            answer = {"body": f'Exception caught in handler - "{exc}": {traceback.format_exc()}',
                      "body_encoding": "text", "content_type": "text/plain", "headers": {}, "status_code": 500}
        sys.stdout.flush()
        sys.stderr.flush()
        with lock:
            event_sock.sendall(b"m" + json.dumps({"duration": time.monotonic() - start}).encode() + b"\n")
            event_sock.sendall(b"r" + encoder.encode(answer).encode() + b"\n")


# --- the processor side (used by the tests) ------------------------------------------------------------------------

def encode_event(body: bytes = b"", headers: dict | None = None, content_type: str = "", method: str = "POST",
                 path: str = "/", query: dict | None = None) -> dict:
    """An HTTP event as nuclio's Go encoder maps it: strings as msgpack strings, the body as binary."""
    return {
        "body": body, "content_type": content_type, "content-type": content_type,
        "headers": {str(k): str(v) for k, v in (headers or {}).items()},
        "fields": {str(k): str(v) for k, v in (query or {}).items()},
        "id": str(uuid.uuid4()), "method": method, "path": path, "size": len(body),
        "timestamp": int(time.time()), "url": f"http://function{path}",
        "trigger": {"kind": "http", "name": "http"}, "shard_id": 0, "num_shards": 0,
        "type": "", "type_version": "", "version": "", "offset": 0, "topic": "",
    }


def frame(event: dict | list) -> bytes:
    import msgpack

    packed = msgpack.packb(event, use_bin_type=True)
    return struct.pack(">I", len(packed)) + packed


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: dict
    logs: list = field(default_factory=list)     # the ``l`` records (the handler's context.logger)
    lines: list = field(default_factory=list)    # every line the wrapper sent, as text

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class NuclioProcessor:
    """Starts the wrapper for ``handler`` (``module:function``) in ``function_dir``, as nuclio's processor does."""

    def __init__(self, handler: str, function_dir: str, decode_strings: bool = True, python: str = sys.executable,
                 env: dict | None = None, timeout: float = 60):
        self.timeout = timeout
        self._dir = tempfile.mkdtemp(prefix="nuclio-")  # short: unix socket paths are limited to ~100 bytes
        event_path, control_path = os.path.join(self._dir, "event.sock"), os.path.join(self._dir, "control.sock")
        listeners = []
        for path in (event_path, control_path):
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(path)
            listener.listen(1)
            listener.settimeout(timeout)
            listeners.append(listener)
        command = [python, "-u", HARNESS, "--handler", handler, "--event-socket-path", event_path,
                   "--control-socket-path", control_path, "--platform-kind", "local", "--namespace", "default",
                   "--worker-id", "0", "--trigger-kind", "http", "--trigger-name", "http"]
        if decode_strings:
            command.append("--decode-event-strings")
        run_env = {**os.environ, **(env or {})}
        run_env["PYTHONPATH"] = os.pathsep.join(p for p in (function_dir, run_env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(command, cwd=function_dir, env=run_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.log: list[str] = []  # the container's log: the wrapper's stdout and stderr, line by line
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        try:
            self.events, _ = listeners[0].accept()
            self.control, _ = listeners[1].accept()
        except OSError as exc:
            self.close()
            raise RuntimeError(f"the wrapper did not connect: {exc}; its log: {''.join(self.log)}") from None
        finally:
            for listener in listeners:
                listener.close()
        self.events.settimeout(timeout)
        self.control.settimeout(timeout)
        self._buffer = b""
        assert self._line(self.events) == b"s"
        control = json.loads(self._line(self.control))
        assert control == {"kind": "wrapperInitialized", "attributes": {"ready": "true"}}, control

    def _read_log(self) -> None:
        for line in self.proc.stdout:
            self.log.append(line.decode("utf-8", "replace"))

    def _line(self, sock: socket.socket) -> bytes:
        if sock is self.control:
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(1)
                if not chunk:
                    raise RuntimeError(f"the wrapper closed its control socket; its log: {''.join(self.log)}")
                data += chunk
            return data[:-1]
        while b"\n" not in self._buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"the wrapper closed its event socket; its log: {''.join(self.log)}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def send(self, event: dict | list) -> Answer:
        """Send one event (or a batch) and read the wrapper's lines up to its answer."""
        self.events.sendall(frame(event))
        logs, lines = [], []
        while True:
            line = self._line(self.events)
            lines.append(line.decode("utf-8", "replace"))
            kind, payload = line[:1], line[1:]
            if kind == b"l":
                logs.append(json.loads(payload))
            elif kind == b"r":
                answer = json.loads(payload)
                body = answer.get("body") or ""
                body = base64.b64decode(body) if answer.get("body_encoding") == "base64" else body.encode()
                return Answer(answer["status_code"], answer.get("content_type", ""), body,
                              answer.get("headers") or {}, logs, lines)

    def call(self, body: bytes = b"", headers: dict | None = None, content_type: str = "", **kw) -> Answer:
        return self.send(encode_event(body, headers, content_type, **kw))

    def close(self) -> str:
        """Stop the wrapper (its sockets closed, as when the processor goes); the container log."""
        for name in ("events", "control"):
            sock = getattr(self, name, None)
            if sock is not None:
                sock.close()
        try:
            self.proc.wait(self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(10)
        for name in os.listdir(self._dir):
            os.unlink(os.path.join(self._dir, name))
        os.rmdir(self._dir)
        return "".join(self.log)

    def __enter__(self) -> NuclioProcessor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(wrapper_main(sys.argv[1:]))
