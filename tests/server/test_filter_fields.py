"""The filter fields a user is told about: ``mlrun get runs --help`` and the web UI's suggestions list every field
the filter language takes, from the one place that defines them (``mlrun.rundb.filters``)."""
from __future__ import annotations

from helpers import mlrun_cli

from mlrun.rundb.filters import FilterError, field_names, parse
from mlrun.server.views import LISTED_LABELS, SUGGESTED_KEYS, filter_suggestions


def test_every_listed_field_is_one_the_language_takes():
    fields = field_names()
    assert {"name", "state", "start_time", "last_update", "labels.KEY", "outputs.KEY", "parameters.KEY"} <= set(fields)
    for field in fields:
        value = "2024-06-01" if field.endswith(("_time", "last_update")) else "1"
        parse(f"{field.replace('KEY', 'x')} = {value}")
    try:
        parse("result.x = 1")
    except FilterError as exc:  # the error lists the same fields
        assert ", ".join(fields) in str(exc)
    else:
        raise AssertionError("an unknown field parsed")


def test_get_runs_help_lists_every_filter_field():
    result = mlrun_cli("get", "runs", "--help")
    assert result.returncode == 0, result.stderr
    help_text = " ".join(result.stdout.split())
    listed = help_text.split("fields: ", 1)[1].split(";", 1)[0]
    assert listed.replace(" ", "").split(",") == field_names()
    assert "operators: = != < <= > >= ~" in help_text


def test_the_filter_box_suggests_the_keys_of_the_runs_shown():
    runs = [{"labels": {"team": "a", "bad key": "x"}, "outputs": {"accuracy": 0.9}, "parameters": {"lr": 0.1}},
            {"labels": {"team": "b"}, "outputs": {"loss": 0.2}, "parameters": "not a mapping"}, "not a summary"]
    suggestions = filter_suggestions(runs)
    assert suggestions[:3] == ["name", "project", "state"] and not any(s.endswith(".KEY") for s in suggestions)
    assert suggestions[-4:] == ["labels.team", "outputs.accuracy", "outputs.loss", "parameters.lr"]
    one_big = [{"outputs": {f"m{i}": i for i in range(SUGGESTED_KEYS * 2)}}]
    assert len(filter_suggestions(one_big)) == len(filter_suggestions([])) + LISTED_LABELS  # a few keys per run
    many = [{"outputs": {f"m{n}-{i}": i for i in range(LISTED_LABELS)}} for n in range(100)]
    assert len(filter_suggestions(many)) == len(filter_suggestions([])) + SUGGESTED_KEYS
