"""The scheme registry, named stores, data items on local files and in memory."""
import hashlib
import os
import textwrap
from pathlib import Path

import pytest
from helpers import poll, run_python

import mlrun.datastore as datastore
from mlrun.datastore import get_item, get_store, known_schemes, register_store
from mlrun.datastore.base import DataStore, FileStat, atomic_path
from mlrun.datastore.memory import MemoryStore
from mlrun.errors import InvalidInputError, InvalidSpecError, NotFoundError, StoreError


@pytest.fixture(autouse=True)
def fresh_memory():
    from mlrun.datastore import memory

    memory.clear()
    yield
    memory.clear()


@pytest.fixture
def scratch_registry():
    """Undo registrations made by a test."""
    with datastore.STORES.saved():
        yield


# -- the registry -------------------------------------------------------------------------------
def test_builtin_schemes_are_known():
    assert {"file", "s3", "http", "https", "memory"} <= set(known_schemes())


def test_unknown_scheme_lists_the_known_ones():
    with pytest.raises(InvalidInputError, match=r"unknown data store scheme 'gopher'.*file.*memory.*s3"):
        get_item("gopher://host/x")


def test_split_url_keeps_query_characters_in_keys():
    assert datastore.split_url("s3://bucket/dir/a?b#c") == ("s3", "bucket", "/dir/a?b#c")
    assert datastore.split_url("/tmp/x") == ("", "", "/tmp/x")


class RecordingStore(DataStore):
    """A third-party store keeping objects in a class-level dict."""

    objects: dict = {}

    def open(self, path, mode="rb"):
        import io

        return io.BytesIO(self.objects[(self.netloc, path)])

    def put(self, path, data):
        self.objects[(self.netloc, path)] = data

    def stat(self, path):
        return FileStat(size=len(self.objects[(self.netloc, path)]))


def test_register_store_adds_a_scheme(scratch_registry):
    register_store("rec", RecordingStore)
    item = get_item("rec://box/a.txt")
    item.put("text")
    assert item.get(encoding="utf-8") == "text"
    assert item.stat().size == 4
    assert "rec" in known_schemes()


def test_register_store_by_dotted_path_loads_on_first_use(scratch_registry):
    register_store("rec2", f"{__name__}:RecordingStore")
    assert isinstance(get_store("rec2://box/x"), RecordingStore)


def test_missing_dependency_says_what_to_install(scratch_registry):
    register_store("broken", "mlrun_no_such_module:Store", extra="broken")
    with pytest.raises(ImportError, match=r'pip install "mlrun-lite\[broken\]"'):
        get_item("broken://x/y")


def test_entry_point_group_adds_a_scheme(tmp_path, monkeypatch, scratch_registry):
    """A package declaring ``[mlrun.datastores]`` in its metadata is found without any call into mlrun."""
    (tmp_path / "thirdparty_store.py").write_text(textwrap.dedent("""
        import io
        from mlrun.datastore.base import DataStore, FileStat

        class ThirdPartyStore(DataStore):
            def open(self, path, mode="rb"):
                return io.BytesIO(b"from " + self.netloc.encode() + path.encode())

            def stat(self, path):
                return FileStat(size=0)
    """))
    dist = tmp_path / "thirdparty_store-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-store\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[mlrun.datastores]\ntps = thirdparty_store:ThirdPartyStore\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    datastore.STORES.entry_points_loaded = False
    assert get_item("tps://host/file").get() == b"from host/file"
    assert "tps" in known_schemes()


# -- named stores (ds://) -----------------------------------------------------------------------
def test_named_store_resolves_url_and_prefixed_secrets():
    stores = [{"name": "lake", "url": "memory://lake/base", "secret_prefix": "LAKE_"}]
    item = get_item("ds://lake/dir/a.csv", {"LAKE_TOKEN": "t1", "TOKEN": "other"}, data_stores=stores)
    assert item.url == "memory://lake/base/dir/a.csv"
    assert item.store.secrets == {"TOKEN": "t1"}  # only its own secrets, prefix removed


def test_named_store_without_prefix_uses_the_run_secrets():
    stores = [{"name": "scratch", "url": "memory://scratch"}]
    item = get_item("ds://scratch/x", {"TOKEN": "v"}, data_stores=stores)
    assert item.url == "memory://scratch/x" and item.store.secrets == {"TOKEN": "v"}


def test_unknown_named_store_lists_the_declared_ones():
    with pytest.raises(InvalidInputError, match=r"unknown data store 'nope'.*known: lake"):
        get_item("ds://nope/x", data_stores=[{"name": "lake", "url": "memory://lake"}])


def test_malformed_named_store_names_the_field():
    with pytest.raises(InvalidSpecError, match=r"spec.data_stores\[0\] needs a name and a url"):
        get_item("ds://x/y", data_stores=[{"name": "x"}])


# -- local files ------------------------------------------------------------------------------
def test_file_item_round_trip(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    item = get_item(str(path))
    item.put("héllo")
    assert item.get() == "héllo".encode() and item.get(encoding="utf-8") == "héllo"
    assert item.stat().size == len("héllo".encode()) and item.stat().modified
    assert item.exists() and item.local() == str(path)
    with item.open() as fp:
        assert fp.read(1) == b"h"
    assert get_item(f"file://{tmp_path}/sub").listdir() == ["a.txt"]
    item.delete()
    assert not item.exists()


def test_file_reads_and_writes_are_whole_past_one_chunk(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 7)  # several read chunks; one write call
    item = get_item(str(tmp_path / "big.bin"))
    item.put(data)
    assert item.get() == data and item.stat().size == len(data)
    assert [p.name for p in tmp_path.iterdir()] == ["big.bin"]  # no temp file left beside it


def test_files_whose_size_is_unknown_up_front_are_read_to_the_end():
    status = get_item("/proc/self/status").get()  # stat says 0 bytes; the content is there
    assert status.startswith(b"Name:") and status.endswith(b"\n")


def test_reading_a_directory_names_it(tmp_path):
    with pytest.raises(StoreError, match=f"{tmp_path} is a directory"):
        get_item(str(tmp_path)).get()


TEMP_NAMES_ACROSS_FORKS = """
import json, os, sys, threading
from mlrun.datastore.base import temp_name

folder, names, lock = sys.argv[1], [], threading.Lock()

def draw():
    drawn = [temp_name(folder) for _ in range(500)]
    with lock:
        names.extend(drawn)

threads = [threading.Thread(target=draw) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
children = []
for _ in range(4):  # forked children start from the parent's state: they must not repeat it
    read, write = os.pipe()
    if os.fork() == 0:
        os.write(write, temp_name(folder).encode())
        os._exit(0)
    os.close(write)
    children.append(os.read(read, 4096).decode())
    os.wait()
print(json.dumps({"parent": names, "children": children}))
"""


def test_temp_names_are_unique_across_threads_and_forked_processes(tmp_path):
    import json

    # in a process of its own: a fork from a test worker would copy its other threads' held locks
    result = run_python(TEMP_NAMES_ACROSS_FORKS, str(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    drawn = json.loads(result.stdout)
    names, children = drawn["parent"], drawn["children"]
    parent_prefix = names[0].rsplit("-", 1)[0]
    assert len(set(names)) == 2000
    assert all(not child.startswith(parent_prefix) for child in children) and len(set(children)) == 4


def test_file_download_and_upload_copy(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3000))
    get_item(str(tmp_path / "copy.bin")).upload(str(src))
    get_item(str(src)).download(str(tmp_path / "out" / "down.bin"))
    assert (tmp_path / "copy.bin").read_bytes() == src.read_bytes() == (tmp_path / "out" / "down.bin").read_bytes()


def test_missing_file_is_not_found_naming_it(tmp_path):
    missing = str(tmp_path / "nope.txt")
    for call in (lambda i: i.get(), lambda i: i.local(), lambda i: i.stat(), lambda i: i.download(missing + ".2")):
        with pytest.raises(NotFoundError, match="nope.txt"):
            call(get_item(missing))
    assert not os.path.exists(missing + ".2")


def test_written_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        get_item(str(tmp_path / "put.txt")).put(b"x")
        get_item(str(tmp_path / "up.txt")).upload(str(tmp_path / "put.txt"))
        get_item(str(tmp_path / "put.txt")).download(str(tmp_path / "down.txt"))
    finally:
        os.umask(umask)
    assert {oct(os.stat(tmp_path / n).st_mode & 0o777) for n in ("put.txt", "up.txt", "down.txt")} == {"0o644"}


def test_writer_that_fails_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), get_item(str(target)).open("wb") as fp:
        fp.write(b"half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]  # no temp file left behind


def test_atomic_path_discards_on_error(tmp_path):
    target = tmp_path / "t.bin"
    with pytest.raises(ValueError), atomic_path(str(target)) as tmp:
        Path(tmp).write_bytes(b"partial")
        raise ValueError("boom")
    assert os.listdir(tmp_path) == []


def test_text_modes_are_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="mode 'a'"):
        get_item(str(tmp_path / "x")).open("a")


# -- memory -----------------------------------------------------------------------------------
def test_memory_item_api(tmp_path):
    item = get_item("memory://box/dir/a.bin")
    with pytest.raises(NotFoundError, match="memory://box/dir/a.bin"):
        item.get()
    with item.open("wb") as fp:
        fp.write(b"12")
        fp.write(b"34")
    assert item.get() == b"1234"
    assert item.stat().etag == hashlib.md5(b"1234").hexdigest() and item.stat().size == 4
    get_item("memory://box/dir/sub/b.bin").put(b"x")
    assert get_item("memory://box/dir").listdir() == ["a.bin", "sub"]
    local = item.local()
    assert Path(local).read_bytes() == b"1234"
    assert item.download(str(tmp_path / "d.bin")) and (tmp_path / "d.bin").read_bytes() == b"1234"
    item.delete()
    with pytest.raises(NotFoundError):
        item.delete()


def test_memory_writer_discards_on_error():
    item = get_item("memory://box/x")
    with pytest.raises(KeyError), item.open("wb") as fp:
        fp.write(b"partial")
        raise KeyError("boom")
    assert not item.exists()


def test_local_cache_downloads_once_while_unchanged(monkeypatch):
    item = get_item("memory://box/cached.txt")
    item.put(b"v1")
    downloads = []
    original = MemoryStore.download
    monkeypatch.setattr(MemoryStore, "download", lambda self, p, lp: (downloads.append(p), original(self, p, lp)))
    first = get_item("memory://box/cached.txt").local()
    second = get_item("memory://box/cached.txt").local()
    assert first == second and len(downloads) == 1 and first.endswith("-cached.txt")
    item.put(b"v2")  # changed content, new tag: a new download
    third = get_item("memory://box/cached.txt").local()
    assert Path(third).read_bytes() == b"v2" and len(downloads) == 2


def test_stores_without_listing_say_so():
    from mlrun.datastore.http import HttpStore

    with pytest.raises(StoreError, match="cannot list http://h/x"):
        HttpStore("h").listdir("http://h/x")


def test_import_mlrun_loads_no_transfer_library():

    code = "import sys, mlrun; mlrun.get_or_create_ctx('x'); " \
           "print(sorted(m for m in ('boto3', 'requests', 'tqdm', 'mlrun.datastore') if m in sys.modules))"
    out = run_python(code, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("write", ["put", "open", "upload", "checked"])
def test_a_large_file_a_write_replaces_is_freed_by_a_thread_and_never_left_named(tmp_path, monkeypatch, write):
    import threading

    import mlrun.datastore.base as base
    from mlrun.datastore.base import HOST_TAG
    from mlrun.datastore.filestore import FileStore

    monkeypatch.setattr(base, "FREE_LATER_SIZE", 1000)
    held, release, real_unlink = [], threading.Event(), base._unlink_aside

    def unlink_when_released(aside, dir_fd):
        held.append(aside)
        release.wait(30)
        real_unlink(aside, dir_fd)

    monkeypatch.setattr(base, "_unlink_aside", unlink_when_released)
    target, old, new = tmp_path / "data.bin", os.urandom(5000), os.urandom(6000)
    target.write_bytes(old)
    (tmp_path / "new.bin").write_bytes(new)
    store = FileStore()
    if write == "checked":
        store.opened_check = lambda path, action: None  # a served function's store: writes through the folder's fd
    if write in ("put", "checked"):
        store.put(str(target), new)
    elif write == "open":
        with store.open(str(target), "wb") as fp:
            fp.write(new)
    else:
        store.upload(str(target), str(tmp_path / "new.bin"))
    poll(lambda: held, what="the freeing thread")
    assert target.read_bytes() == new
    aside = tmp_path / os.path.basename(held[0])
    assert aside.read_bytes() == old  # the old file, under a temp name of this process: swept if it dies now
    assert aside.name.startswith(f".mlrun-{HOST_TAG}-{os.getpid()}-") and aside.name.endswith(".tmp")
    release.set()
    poll(lambda: sorted(p.name for p in tmp_path.iterdir()) == ["data.bin", "new.bin"], what="the old file freed")


def test_a_small_file_or_one_with_other_names_is_replaced_in_place(tmp_path, monkeypatch):
    import mlrun.datastore.base as base

    monkeypatch.setattr(base, "_unlink_aside", lambda *args: pytest.fail("nothing to free in a thread"))
    small = tmp_path / "small.bin"
    small.write_bytes(b"x" * 100)
    get_item(str(small)).put(b"y" * 100)
    linked = tmp_path / "linked.bin"
    linked.write_bytes(os.urandom(base.FREE_LATER_SIZE))
    os.link(linked, tmp_path / "other-name.bin")  # its blocks stay in use: nothing to free
    get_item(str(linked)).put(b"z")
    assert small.read_bytes() == b"y" * 100 and linked.read_bytes() == b"z"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["linked.bin", "other-name.bin", "small.bin"]
