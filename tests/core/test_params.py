"""Typed ``key=value`` parsing, as ``-p``, ``-i`` and ``--label`` use it."""
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlrun.errors import InvalidInputError
from mlrun.params import parse_pairs, parse_value, split_pair


@pytest.mark.parametrize("text, expected", [
    ("5", 5), ("-3", -3), ("0.5", 0.5), ("1e3", 1000.0),
    ("true", True), ("True", True), ("false", False), ("FALSE", False),
    ("null", None), ("None", None),
    ("[1, 2]", [1, 2]), ('{"a": 1}', {"a": 1}), ("['a', 1]", ["a", 1]), ("{'k': [1]}", {"k": [1]}),
    ("(1, 2)", [1, 2]),
    ("abc", "abc"), ("a-string", "a-string"), ("[a,b]", "[a,b]"), ("", ""), ("s3://bucket/key", "s3://bucket/key"),
    ("NaN", "NaN"), ("Infinity", "Infinity"), ("1.2.3", "1.2.3"), ("{not: json", "{not: json"),
])
def test_parse_value_types(text, expected):
    value = parse_value(text)
    assert value == expected and type(value) is type(expected)


def test_deeply_nested_brackets_stay_text():
    for text in ("[" * 100_000, "[" * 50_000 + "]" * 50_000, "{" * 100_000):
        assert parse_value(text) == text


def test_split_pair_keeps_everything_after_the_first_equals():
    assert split_pair("url=s3://b/k?x=1") == ("url", "s3://b/k?x=1")
    assert split_pair(" key =") == ("key", "")


@pytest.mark.parametrize("text", ["p1", "=5", " =5", ""])
def test_split_pair_refuses_a_missing_key_and_names_option_and_text(text):
    with pytest.raises(InvalidInputError) as info:
        split_pair(text, "-p")
    message = str(info.value)
    assert message.startswith(f"-p {text!r}") and "key=value" in message and "\n" not in message


def test_parse_pairs_typed_and_untyped():
    assert parse_pairs(["p1=5", "p2=a-string", "p3=[1,2]"]) == {"p1": 5, "p2": "a-string", "p3": [1, 2]}
    assert parse_pairs(["n=5"], "--label", typed=False) == {"n": "5"}
    with pytest.raises(InvalidInputError, match="--label 'oops'"):
        parse_pairs(["a=1", "oops"], "--label")


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(json_scalars | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                         max_size=4),
                           max_leaves=12)


@given(json_values)
def test_json_text_parses_to_its_value(value):
    assert parse_value(json.dumps(value)) == value


@given(st.text())
def test_any_text_parses_without_error(text):
    value = parse_value(text)
    assert value is None or isinstance(value, (str, bool, int, float, list, dict))


@given(st.text(alphabet=st.characters(categories=["L", "Nd"], include_characters="_-."), min_size=1).filter(
    lambda s: s.strip() == s), st.text())
def test_pairs_round_trip_the_key_and_untyped_value(key, value):
    assert parse_pairs([f"{key}={value}"], typed=False) == {key: value}


@given(st.text(alphabet=st.characters(categories=["L"]), min_size=1).filter(
    lambda s: s.strip().lower() not in ("true", "false", "null", "none", "nan", "infinity")))
def test_plain_words_stay_strings(word):
    assert parse_value(word) == word
