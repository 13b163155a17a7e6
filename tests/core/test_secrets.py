"""Secret sources, the references records keep, and masking."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlrun.errors import SecretError
from mlrun.secrets import MASK, SecretsStore, mask, mask_bytes, read_secrets_file


def test_secrets_file_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME_BUCKET", "bkt")
    path = tmp_path / "secrets.txt"
    path.write_text("# a comment\n\nACCESS_KEY=abc=123\n  SPACED = v 1  \nexport EXPORTED=x\nQUOTED='q v'\n"
                    "EXPANDED=s3://$HOME_BUCKET/x\nno equals sign here\nEMPTY=\n")
    assert read_secrets_file(str(path)) == {"ACCESS_KEY": "abc=123", "SPACED": "v 1", "EXPORTED": "x",
                                            "QUOTED": "q v", "EXPANDED": "s3://bkt/x", "EMPTY": ""}


def test_sources_are_recorded_as_references_only(tmp_path, monkeypatch):
    path = tmp_path / "secrets.txt"
    path.write_text("ACCESS_KEY=file-value-1\n")
    monkeypatch.setenv("TOKEN_A", "env-value-2")
    store = SecretsStore()
    store.add_source("file", str(path))
    store.add_source("env", " TOKEN_A, MISSING_VAR ")
    store.add_source("inline", {"PASSWORD": "inline-value-3"}, prefix="db_")
    assert store.get("ACCESS_KEY") == "file-value-1"
    assert store.get("TOKEN_A") == "env-value-2"
    assert store.get("db_PASSWORD") == "inline-value-3"
    assert store.get("MISSING_VAR") is None and "MISSING_VAR" not in store
    assert store.sources == [{"kind": "file", "source": str(path)},
                             {"kind": "env", "source": "TOKEN_A,MISSING_VAR"},
                             {"kind": "inline", "source": ["db_PASSWORD"], "prefix": "db_"}]
    assert "value" not in repr(store.sources)
    assert store.inline_values() == {"db_PASSWORD": "inline-value-3"}


def test_from_sources_rereads_references_and_takes_inline_values_separately(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("A=from-file\n")
    original = SecretsStore()
    original.add_source("file", str(path))
    original.add_source("inline", {"B": "from-inline"})
    rebuilt = SecretsStore.from_sources(original.sources, original.inline_values())
    assert rebuilt.items() == {"A": "from-file", "B": "from-inline"}
    assert rebuilt.sources == original.sources
    # without the values, inline secrets are simply absent: a reference never holds one
    assert SecretsStore.from_sources(original.sources).items() == {"A": "from-file"}


@pytest.mark.parametrize("kind, source, message", [
    ("vault", "x", "unknown secret source kind 'vault' (expected one of: file, env, inline)"),
    ("file", "/no/such/secrets.txt", "secrets file not found: /no/such/secrets.txt"),
    ("inline", 5, "inline secrets must be a mapping or text, got int"),
])
def test_bad_sources_are_one_line_errors(kind, source, message):
    with pytest.raises(SecretError) as info:
        SecretsStore().add_source(kind, source)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_unreadable_secrets_file(tmp_path):
    with pytest.raises(SecretError, match="cannot read secrets file .*IsADirectoryError"):
        SecretsStore().add_source("file", str(tmp_path))
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SecretError, match="cannot read secrets file .*UnicodeDecodeError"):
        SecretsStore().add_source("file", str(binary))


def test_mask_hides_longest_values_first_and_leaves_short_ones():
    assert mask("key=abcdef and abc", ["abc", "abcdef"]) == f"key={MASK} and {MASK}"
    assert mask("a 1 ab", ["a", "1", "ab"]) == "a 1 ab"  # too short to hide without wrecking the text
    assert mask_bytes(b"x=s3cret\n", ["s3cret"]) == f"x={MASK}\n".encode()
    store = SecretsStore()
    store.add_source("inline", {"K": "hunter2"})
    assert store.mask("pw hunter2") == f"pw {MASK}"


@given(st.text(st.characters(exclude_characters="*", exclude_categories=("Cs",)), min_size=3, max_size=30),
       st.text(max_size=30),
       st.text(max_size=30))
def test_a_masked_text_never_contains_the_secret(secret, before, after):
    text = before + secret + after
    assert secret not in mask(text, [secret])
    assert secret.encode() not in mask_bytes(text.encode(), [secret])
