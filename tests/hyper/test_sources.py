import json

import pytest

from mlrun.errors import InvalidInputError
from mlrun.hyper.sources import check_hyperparams, load_param_file, parse_hyperparams, parse_list


@pytest.mark.parametrize("text, values", [
    ("[1,2,3]", [1, 2, 3]),
    ("[a,b]", ["a", "b"]),
    ("[ a , 0.5, true, null ]", ["a", 0.5, True, None]),
    ('["x y", 2]', ["x y", 2]),
    ("['x', [1, 2]]", ["x", [1, 2]]),
    ("[7]", [7]),
])
def test_lists_are_typed_like_params(text, values):
    assert parse_list(text, "-x p") == values


@pytest.mark.parametrize("item, problem", [
    ("p1=[1,2", "expected KEY=[v1,v2,...]"),
    ("p1=5", "expected KEY=[v1,v2,...]"),
    ("p1=[]", "the list is empty"),
    ("p1=[a,,b]", "malformed list"),
    ("p1=[a,[b]", "malformed list"),
    ("p1=[a,\"b]", "malformed list"),
    ("=[1]", "expected key=value"),
])
def test_malformed_lists_name_the_option(item, problem):
    with pytest.raises(InvalidInputError) as info:
        parse_hyperparams([item])
    assert problem in str(info.value) and item in str(info.value)


def test_parse_hyperparams_keeps_order():
    assert list(parse_hyperparams(["b=[1]", "a=[x,y]"]).items()) == [("b", [1]), ("a", ["x", "y"])]


def test_check_hyperparams_names_the_bad_key():
    assert check_hyperparams({"p": (1, 2)}) == {"p": [1, 2]}
    with pytest.raises(InvalidInputError, match=r"hyperparams\['p'\] must be a non-empty list"):
        check_hyperparams({"p": 3})
    with pytest.raises(InvalidInputError, match="must be a mapping"):
        check_hyperparams([1, 2])


def test_csv_file_one_row_per_iteration(tmp_path):
    path = tmp_path / "params.csv"
    path.write_text("p1,p2,rate\n1,a,0.5\n2,b,1e-3\n")
    assert load_param_file(str(path)) == ({"p1": [1, 2], "p2": ["a", "b"], "rate": [0.5, 0.001]}, "list")


def test_json_mapping_is_a_grid_and_list_of_mappings_is_rows(tmp_path):
    grid, rows = tmp_path / "grid.json", tmp_path / "rows.json"
    grid.write_text(json.dumps({"p1": [1, 2], "p2": ["a"]}))
    rows.write_text(json.dumps([{"p1": 1, "p2": "a"}, {"p2": "b", "p1": 2}]))
    assert load_param_file(str(grid)) == ({"p1": [1, 2], "p2": ["a"]}, "grid")
    assert load_param_file(str(rows)) == ({"p1": [1, 2], "p2": ["a", "b"]}, "list")


@pytest.mark.parametrize("name, content, problem", [
    ("p.json", '{"p1": [1, 2', "is not valid JSON (line 1, column"),
    ("p.json", '{"p1": 3}', "must be a non-empty list"),
    ("p.json", '[{"p1": 1}, {"p2": 2}]', "entry 2"),
    ("p.json", '"text"', "expected a mapping of names to lists"),
    ("p.csv", "p1,p2\n1\n", "row 2: 1 values for 2 columns"),
    ("p.csv", "p1,p2\n", "expected a header row and at least one row"),
    ("p.csv", "p1,p1\n1,2\n", "distinct, non-empty names"),
    ("p.csv", b"p1\n\xff\n", "is not UTF-8 text"),
    ("p.yaml", "p1: [1]", "unknown format"),
])
def test_bad_param_files_name_the_file(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InvalidInputError) as info:
        load_param_file(str(path))
    assert problem in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_param_file(tmp_path):
    with pytest.raises(InvalidInputError, match="param file not found: .*nope.csv"):
        load_param_file(str(tmp_path / "nope.csv"))
