"""``mlrun.utils`` (``run_keys``, ``get_in``, ``update_in``) and the seed's secrets API (``SecretsStore.from_dict``,
``get_all``, the ``inline`` source in its three forms)."""
import pytest

from mlrun import get_or_create_ctx
from mlrun.errors import SecretError
from mlrun.model import RunRecord, RunSpec, RunStatus
from mlrun.secrets import SecretsStore
from mlrun.utils import get_in, run_keys, update_in

# -- mlrun.utils ------------------------------------------------------------------------------------------------

def test_run_keys_name_fields_the_record_has():
    assert run_keys.input_objects == run_keys.inputs == "input_objects"
    assert run_keys.output_path == "default_output_path" and run_keys.secrets == "secret_sources"
    assert run_keys.artifacts == run_keys.output_artifacts == "output_artifacts"
    fields = set(RunSpec._NAMES) | set(RunStatus._NAMES)
    names = {k: v for k, v in vars(run_keys).items() if not k.startswith("_")}
    assert set(names.values()) <= fields, set(names.values()) - fields


def test_a_spec_built_with_run_keys_and_update_in_runs():
    struct = {}
    update_in(struct, f"spec.{run_keys.parameters}.p1", 8)
    update_in(struct, ["spec", run_keys.input_objects], {"key": "infile.txt", "path": "data.txt"}, append=True)
    update_in(struct, ["spec", run_keys.input_objects], {"key": "other", "path": "o.txt"}, append=True)
    update_in(struct, f"spec.{run_keys.secrets}", [{"kind": "inline", "source": {"ACCESS_KEY": "k-123"}}])
    update_in(struct, "metadata.labels.team", "ml")
    assert struct["spec"]["input_objects"][1] == {"key": "other", "path": "o.txt"}
    ctx = get_or_create_ctx("built", spec=struct)
    assert ctx.get_param("p1") == 8 and ctx.inputs == {"infile.txt": "data.txt", "other": "o.txt"}
    assert ctx.get_secret("ACCESS_KEY") == "k-123" and ctx.labels["team"] == "ml"
    assert get_in(ctx.to_dict(), "spec.parameters.p1") == 8


def test_get_in_walks_paths_and_falls_back_to_the_default():
    data = {"status": {"outputs": {"a.b": 1, "acc": 0.9}, "state": "completed"}}
    assert get_in(data, "status.outputs.acc") == 0.9
    assert get_in(data, ["status", "outputs", "a.b"]) == 1  # a key holding a dot, as a list of keys
    assert get_in(data, "status.outputs.missing", "none") == "none"
    assert get_in(data, "status.state.deeper", 5) == 5  # through a string: the default
    assert get_in(data, "") is data


def test_update_in_refuses_to_overwrite_what_is_not_a_mapping_or_a_list():
    data = {"spec": {"parameters": 5, "items": "x"}}
    with pytest.raises(ValueError, match="^update_in: spec.parameters holds a int, not a mapping"):
        update_in(data, "spec.parameters.p1", 1)
    with pytest.raises(ValueError, match="^update_in: spec.items holds a str, not a list"):
        update_in(data, "spec.items", 1, append=True)
    with pytest.raises(ValueError, match="needs a key"):
        update_in(data, "", 1)
    assert data == {"spec": {"parameters": 5, "items": "x"}}


# -- secrets ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", [{"abc": "def", "n": 5}, "{'abc': 'def', 'n': 5}", '{"abc": "def", "n": 5}',
                                    "abc=def,n=5", " abc = def , n=5, "])
def test_inline_secrets_take_a_mapping_a_literal_or_key_value_text(source):
    store = SecretsStore.from_dict({"secret_sources": [{"kind": "inline", "source": source}]})
    assert store.get("abc") == "def" and store.get_all() == {"abc": "def", "n": "5"}
    assert store.sources == [{"kind": "inline", "source": ["abc", "n"]}]  # names, never values


def test_from_dict_reads_a_whole_record_and_get_all_is_a_copy(tmp_path, monkeypatch):
    (tmp_path / "secrets.txt").write_text("ACCESS_KEY=from-file\n")
    monkeypatch.setenv("TOKEN_VAR", "from-env")
    record = {"metadata": {"name": "r"}, "spec": {"secret_sources": [
        {"kind": "file", "source": str(tmp_path / "secrets.txt")}, {"kind": "env", "source": "TOKEN_VAR"},
        {"kind": "inline", "source": "ONE=1", "prefix": "X_"}]}}
    store = SecretsStore.from_dict(record)
    everything = store.get_all()
    assert everything == {"ACCESS_KEY": "from-file", "TOKEN_VAR": "from-env", "X_ONE": "1"}
    everything["ACCESS_KEY"] = "changed"
    assert store.get("ACCESS_KEY") == "from-file"
    assert SecretsStore.from_dict({}).get_all() == {}


@pytest.mark.parametrize("struct, problem", [
    ({"secret_sources": [{"kind": "inline", "source": "{'abc': __import__('os').getcwd()}"}]}, "not a mapping literal"),
    ({"secret_sources": [{"kind": "inline", "source": "{'abc'"}]}, "not a mapping literal"),
    ({"secret_sources": [{"kind": "inline", "source": "['s3cr3t-value']"}]}, "expected KEY=VALUE"),
    ({"secret_sources": [{"kind": "inline", "source": "s3cr3t-value"}]}, "expected KEY=VALUE"),
    ({"secret_sources": [{"kind": "inline", "source": 5}]}, "must be a mapping or text, got int"),
    ({"secret_sources": "file=x"}, "secret_sources must be a list, got str"),
    ({"secret_sources": ["file=x"]}, "secret_sources[0] must be a mapping, got str"),
    ({"secret_sources": [{"kind": "vault", "source": "x"}]}, "unknown secret source kind 'vault'"),
    ("secret_sources", "must be given as a mapping"),
])
def test_bad_sources_are_refused_in_one_line_that_never_quotes_a_value(struct, problem):
    with pytest.raises(SecretError) as info:
        SecretsStore.from_dict(struct)
    assert problem in str(info.value) and "\n" not in str(info.value)
    assert "s3cr3t" not in str(info.value) and "getcwd" not in str(info.value)


def test_inline_values_in_a_spec_reach_the_code_and_only_key_names_are_recorded(capsys):
    ctx = get_or_create_ctx("inline", spec={"spec": {"secret_sources": [
        {"kind": "inline", "source": "{'API_KEY': 'inline-secret-42'}"}]}})
    assert ctx.get_secret("API_KEY") == "inline-secret-42"
    ctx.log_output("echo", ctx.get_secret("API_KEY"))
    print(ctx.get_secret("API_KEY"))
    record = ctx.to_dict()
    assert record["spec"]["secret_sources"] == [{"kind": "inline", "source": ["API_KEY"]}]
    assert "inline-secret-42" not in str(record) + ctx.to_yaml() + capsys.readouterr().out
    # a recorded inline source (key names) loads as it did: its values are not in it
    again = get_or_create_ctx("again", spec=RunRecord.from_dict(record).to_dict())
    assert again.get_secret("API_KEY") is None
