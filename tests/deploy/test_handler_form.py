"""``function-config`` refuses a handler nuclio cannot call as ``handler(context, event)``, saying how to wrap it."""
import pytest
from helpers import mlrun_cli

from mlrun.deploy.nuclio import InvalidHandlerError, check_nuclio_handler, function_config

ACCEPTED = {
    "nuclio": "def handler(context, event):\n    pass\n",
    "defaults": "def handler(context, event=None, extra=1):\n    pass\n",
    "varargs": "def handler(*args):\n    pass\n",
    "wrapped": "from mlrun.adapters.nuclio import nuclio_handler\ndef handler(ctx):\n    pass\n"
               "handler = nuclio_handler(handler)\n",
    "decorated": "from mlrun.adapters.nuclio import nuclio_handler\n@nuclio_handler\ndef handler(ctx):\n    pass\n",
    "imported": "from elsewhere import handler\n",
    "class": "class handler:\n    def __init__(self, context, event):\n        pass\n",
}
REFUSED = {
    "plain": ("def handler(ctx):\n    pass\n", "handler(ctx)"),
    "none": ("def handler():\n    pass\n", "handler()"),
    "three": ("def handler(context, event, more):\n    pass\n", "handler(context, event, more)"),
    "keyword": ("def handler(context, event, *, key):\n    pass\n", "handler(context, event, *, key)"),
    "redefined": ("def handler(context, event):\n    pass\ndef handler(ctx):\n    pass\n", "handler(ctx)"),
}


@pytest.mark.parametrize("form", sorted(ACCEPTED))
def test_a_nuclio_handler_or_one_that_may_be_is_accepted(tmp_path, form):
    path = tmp_path / "fn.py"
    path.write_text(ACCEPTED[form])
    check_nuclio_handler(str(path), "handler")
    assert function_config(f"{path}:handler", bundle=True)["spec"]["handler"] == "fn:handler"


@pytest.mark.parametrize("form", sorted(REFUSED))
def test_a_handler_nuclio_cannot_call_is_refused_with_how_to_wrap_it(tmp_path, form):
    code, shown = REFUSED[form]
    path = tmp_path / "fn.py"
    path.write_text(code)
    with pytest.raises(InvalidHandlerError) as error:
        function_config(str(path), bundle=True)
    assert str(error.value) == (f"{path}:handler: {shown} is not a nuclio handler(context, event); wrap a plain "
                                "fn(ctx): handler = mlrun.adapters.nuclio.nuclio_handler(handler), then deploy "
                                "FILE:handler")


@pytest.mark.parametrize("args", [["--bundle", "b"], ["--mlrun-requirement", "git+https://127.0.0.1/x.git"]])
def test_the_cli_refuses_a_plain_handler_in_one_line_with_exit_2_and_writes_nothing(tmp_path, args):
    (tmp_path / "train.py").write_text("def train(ctx):\n    ctx.log_result('a', 1)\n")
    result = mlrun_cli("function-config", "train.py:train", *args, cwd=str(tmp_path))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("Error: train.py:train: train(ctx) is not a nuclio handler(context, event); wrap a plain "
                             "fn(ctx): handler = mlrun.adapters.nuclio.nuclio_handler(train), then deploy "
                             "FILE:handler\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]
