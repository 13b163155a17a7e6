"""The http(s):// data store against a real HTTP server on 127.0.0.1 started by the tests."""
import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import free_port

from mlrun.datastore import get_item
from mlrun.errors import NotFoundError, StoreError


class FilesHandler(SimpleHTTPRequestHandler):
    """Serves a folder; ``/flaky/...`` answers 503 to the first two GETs of each path."""

    failures: dict = {}
    lock = threading.Lock()

    def do_GET(self):
        if self.path.startswith("/flaky/"):
            with self.lock:
                seen = self.failures[self.path] = self.failures.get(self.path, 0) + 1
            if seen <= 2:
                self.send_error(503, "busy")
                return
            self.path = self.path[len("/flaky"):]
        super().do_GET()

    def do_HEAD(self):
        if self.path.startswith("/nohead/"):  # like a presigned GET URL
            self.send_error(403, "signature does not match")
            return
        super().do_HEAD()

    def end_headers(self):
        if self.path.startswith("/tagged/"):
            self.send_header("ETag", '"v1-tag"')
        super().end_headers()

    def translate_path(self, path):
        return super().translate_path(path.replace("/tagged/", "/", 1).replace("/nohead/", "/", 1))

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture(scope="module")
def http_root(tmp_path_factory):
    """(base URL, served folder) of a threaded HTTP server on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("www")
    (folder / "infile.txt").write_bytes(b"hello over http\n")
    (folder / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), functools.partial(FilesHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()
    thread.join()


def test_get_open_stat_local(http_root, tmp_path):
    base, folder = http_root
    item = get_item(f"{base}/infile.txt")
    assert item.get() == b"hello over http\n" and item.get(encoding="utf-8") == "hello over http\n"
    with item.open() as fp:
        assert fp.read(5) == b"hello"
    stat = item.stat()
    assert stat.size == 16 and stat.modified.endswith("+00:00")
    assert Path(item.local()).read_bytes() == b"hello over http\n"
    assert get_item(f"{base}/tagged/infile.txt").stat().etag == "v1-tag"


def test_a_whole_read_tells_the_version_it_read(http_root):
    base, _ = http_root
    item = get_item(f"{base}/tagged/infile.txt")
    seen = []
    item.on_read = lambda _, content, stat: seen.append((content, stat))
    assert item.get() == b"hello over http\n"
    assert seen == [(b"hello over http\n", item.stat())] and seen[0][1].etag == "v1-tag"


def test_servers_refusing_head_still_give_size_and_local_copies(http_root):
    base, _ = http_root
    item = get_item(f"{base}/nohead/infile.txt")
    assert item.stat().size == 16
    assert Path(item.local()).read_bytes() == b"hello over http\n"


def test_download_streams_whole_file(http_root, tmp_path):
    base, folder = http_root
    target = tmp_path / "sub" / "big.bin"
    get_item(f"{base}/big.bin").download(str(target))
    assert target.read_bytes() == (folder / "big.bin").read_bytes()
    assert os.listdir(tmp_path / "sub") == ["big.bin"]


def test_transient_errors_are_retried(http_root):
    base, _ = http_root
    assert get_item(f"{base}/flaky/infile.txt").get() == b"hello over http\n"  # 503, 503, then the file


def test_missing_file_names_the_url(http_root, tmp_path):
    base, _ = http_root
    with pytest.raises(NotFoundError, match=rf"not found: {base}/nope.txt \(HTTP 404\)"):
        get_item(f"{base}/nope.txt").get()
    with pytest.raises(NotFoundError, match="nope.txt"):
        get_item(f"{base}/nope.txt").download(str(tmp_path / "nope.txt"))
    assert os.listdir(tmp_path) == []


def test_http_is_read_only(http_root):
    base, _ = http_root
    for call in (lambda i: i.put(b"x"), lambda i: i.open("wb"), lambda i: i.upload(__file__)):
        with pytest.raises(StoreError, match="read only"):
            call(get_item(f"{base}/new.txt"))


def test_unreachable_server_fails_after_bounded_retries(monkeypatch):
    from urllib3.util.retry import Retry

    import mlrun.datastore.http as http

    monkeypatch.setattr(http, "RETRY", Retry(total=1, backoff_factor=0))
    monkeypatch.setattr(http, "_session", None)
    url = f"http://127.0.0.1:{free_port()}/x.txt"
    with pytest.raises(StoreError, match=f"cannot reach {url} after 1 retries"):
        get_item(url).get()
