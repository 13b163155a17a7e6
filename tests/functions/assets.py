"""Function code the tests of ``mlrun.functions`` run, written into each test's folder (MLRun 1.x's assets)."""
import json

HANDLERS = '''
import mlrun


def train(context, p1=1, p2="a"):
    context.log_result("accuracy", p1 * 2 + len(p2))
    context.log_artifact("model.txt", body=f"p1={p1} p2={p2}")
    return {"p2_used": p2}


def my_func(p1, p2=3):
    return p1 + p2


def two_values(p1=1):
    return p1, p1 * 10


def reads(context, infile):
    return infile.get().decode().strip()


def nothing():
    return None


def fails(context):
    raise ValueError("bad value")


def nuclio_form(context, event):
    ctx = mlrun.get_or_create_ctx("nuclio", event=event)
    ctx.log_result("form", "nuclio")


class Model:
    def __init__(self):
        self.factor = 7

    def predict(self, x=1):
        return x * self.factor


@mlrun.handler(outputs=["doubled", "tripled"], labels={"flavour": "decorated"})
def decorated(x=1):
    return x * 2, x * 3
'''


def write_handlers(folder, name="handlers.py"):
    path = folder / name
    path.write_text(HANDLERS)
    return str(path)


def write_notebook(folder, name="train.ipynb"):
    """A notebook whose code cells use MLRun's markers: an ignored cell, and code between start/end markers."""
    def cell(source, kind="code"):
        return {"cell_type": kind, "metadata": {}, "source": source, **({"outputs": [], "execution_count": None}
                                                                       if kind == "code" else {})}

    cells = [
        cell("# Training\nA markdown cell.", "markdown"),
        cell("raise RuntimeError('this cell comes before start-code')"),
        cell(["import json\n", "# mlrun: start-code\n", "import math\n"]),
        cell(["!pip install something\n", "def train(context, p1=1):\n",
              "    context.log_result('root', math.sqrt(p1))\n"]),
        cell(["# mlrun: ignore\n", "raise RuntimeError('ignored cell')\n"]),
        cell(["def other(context):\n", "    return 'other'\n", "# mlrun: end-code\n", "raise RuntimeError('after')\n"]),
        cell("raise RuntimeError('this cell comes after end-code')"),
    ]
    path = folder / name
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return str(path)
