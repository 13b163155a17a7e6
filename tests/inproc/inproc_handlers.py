"""Handlers the in-process tests run in this process, from the CLI (``mlrun run FILE --handler NAME``) and served
(``mlrun serve FILE:NAME``): each mode must give the same outputs, metrics and artifact hashes."""
from mlrun import get_or_create_ctx


def train(context, p1=1, p2="a-string"):
    """The seed's handler in the keyword form: parameters bound by name, an input, a metric history, an artifact."""
    text = context.get_input("infile.txt").get(encoding="utf-8")
    context.log_output("accuracy", p1 * 2)
    context.log_output("infile_chars", len(text))
    for i in range(1, 4):
        context.log_metric("loss", p1 * i, i)
    context.log_artifact("model.txt", body=f"model p1={p1} p2={p2} input={text}".encode())
    return {"p2_twice": p2 * 2}


def legacy(struct):
    """The 2019 form: the handler takes the run's spec and makes its context itself."""
    ctx = get_or_create_ctx("legacy", spec=struct)
    ctx.log_output("accuracy", ctx.get_param("p1", 1) * 2)
    ctx.log_output("access_key_length", len(ctx.get_secret("ACCESS_KEY") or ""))
    return ctx.to_yaml()
