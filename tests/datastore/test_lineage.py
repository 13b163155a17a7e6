"""What a run records about the data it reads (lineage) and writes (artifacts)."""
import hashlib

import pytest

from mlrun import get_or_create_ctx
from mlrun.datastore import get_item, memory
from mlrun.errors import InvalidInputError


@pytest.fixture(autouse=True)
def fresh_memory():
    memory.clear()
    yield
    memory.clear()


def make_ctx(**spec):
    return get_or_create_ctx("lineage", spec={"metadata": {"name": "lineage", "uid": "u-1"}, "spec": spec})


def test_read_input_records_url_size_hash_and_time(tmp_path):
    path = tmp_path / "infile.txt"
    path.write_bytes(b"some input")
    ctx = make_ctx(input_objects=[{"key": "infile.txt", "path": str(path)}])
    assert ctx.get_object("infile.txt").get() == b"some input"
    ctx.get_object("infile.txt").get()  # read twice, recorded once
    (entry,) = ctx.to_dict()["status"]["input_objects"]
    assert entry["key"] == "infile.txt" and entry["url"] == str(path)
    assert entry["size"] == 10 and entry["modified"] and entry["read_time"]
    assert entry["sha256"] == hashlib.sha256(b"some input").hexdigest()  # local files have no etag: hashed


@pytest.mark.parametrize("url", ["{tmp}/in.bin", "memory://in/in.bin"])
def test_lineage_of_a_whole_read_is_the_version_read_with_no_second_look(url, tmp_path, monkeypatch):
    from mlrun.datastore.filestore import FileStore
    from mlrun.datastore.memory import MemoryStore

    url = url.format(tmp=tmp_path)
    get_item(url).put(b"version one")
    ctx = make_ctx(input_objects=[{"key": "in", "path": url}])

    def no_stat(self, path):
        raise AssertionError("the read itself tells size, time and tag")

    for store in (FileStore, MemoryStore):
        monkeypatch.setattr(store, "stat", no_stat)
    assert ctx.get_object("in").get() == b"version one"
    (entry,) = ctx.to_dict()["status"]["input_objects"]
    assert entry["size"] == len(b"version one") and entry["modified"]


def test_local_copy_of_a_local_file_is_hashed(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,2\n")
    ctx = make_ctx(input_objects=[{"key": "data", "path": str(path)}])
    assert ctx.input_artifact("data").local() == str(path)
    assert ctx.to_dict()["status"]["input_objects"][0]["sha256"] == hashlib.sha256(b"a,b\n1,2\n").hexdigest()


def test_store_tag_is_recorded_when_there_is_one():
    get_item("memory://in/x.bin").put(b"payload")
    ctx = make_ctx(input_objects=[{"key": "x", "path": "memory://in/x.bin"}])
    with ctx.get_input("x").open() as fp:
        assert fp.read() == b"payload"
    (entry,) = ctx.to_dict()["status"]["input_objects"]
    assert entry["etag"] == hashlib.md5(b"payload").hexdigest() and entry["size"] == 7
    assert "sha256" not in entry


def test_unread_inputs_leave_no_lineage():
    ctx = make_ctx(input_objects=[{"key": "x", "path": "memory://in/never"}])
    ctx.get_object("x")
    assert ctx.to_dict()["status"]["input_objects"] == []


def test_artifact_record_keeps_target_size_hash_producer_and_sources():
    get_item("memory://in/x.bin").put(b"payload")
    ctx = make_ctx(input_objects=[{"key": "x", "path": "memory://in/x.bin"}], default_output_path="memory://out/run1")
    artifact = ctx.log_artifact("model/m.txt", body="weights", description="the model", labels={"stage": "dev"})
    assert get_item("memory://out/run1/model/m.txt").get() == b"weights"
    (recorded,) = ctx.to_dict()["status"]["output_artifacts"]
    assert recorded == artifact
    assert recorded["target_path"] == "memory://out/run1/model/m.txt" and recorded["size"] == 7
    assert recorded["sha256"] == hashlib.sha256(b"weights").hexdigest() and recorded["format"] == "txt"
    assert recorded["producer"] == {"name": "lineage", "uid": "u-1"}
    assert recorded["sources"] == [{"key": "x", "path": "memory://in/x.bin"}]
    assert recorded["description"] == "the model" and recorded["labels"] == {"stage": "dev"}


def test_equal_bodies_give_equal_hashes(tmp_path):
    ctx = make_ctx(default_output_path="memory://out")
    source = tmp_path / "same.bin"
    source.write_bytes(b"same bytes")
    a = ctx.log_artifact("a.bin", body=b"same bytes")
    b = ctx.log_artifact("b.bin", local_path=str(source), target_path="memory://elsewhere/b.bin", format="raw")
    c = ctx.log_artifact("c.bin", body=b"other bytes")
    assert a["sha256"] == b["sha256"] != c["sha256"]
    assert b["target_path"] == "memory://elsewhere/b.bin" and b["format"] == "raw"
    assert get_item("memory://elsewhere/b.bin").get() == b"same bytes"


@pytest.mark.parametrize("key", ["../escape.txt", "a/../../b", "/etc/passwd", "s3://bucket/x", ""])
def test_keys_escaping_the_output_path_are_refused(key):
    ctx = make_ctx(default_output_path="memory://out")
    with pytest.raises(InvalidInputError, match="artifact key"):
        ctx.log_artifact(key, body=b"x")
    assert memory._objects == {}


def test_named_stores_serve_inputs_and_artifacts():
    get_item("memory://lake/base/in.txt").put(b"from the lake")
    stores = [{"name": "lake", "url": "memory://lake/base"}]
    ctx = make_ctx(data_stores=stores, input_objects=[{"key": "in", "path": "ds://lake/in.txt"}],
                   default_output_path="ds://lake/out")
    assert ctx.get_object("in").get() == b"from the lake"
    assert ctx.to_dict()["status"]["input_objects"][0]["url"] == "memory://lake/base/in.txt"
    artifact = ctx.log_artifact("result.txt", body=b"done")
    assert artifact["target_path"] == "memory://lake/base/out/result.txt"
    assert get_item("memory://lake/base/out/result.txt").get() == b"done"
