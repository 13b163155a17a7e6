"""Small handlers the sweep tests run: fast, deterministic, one of them failing on purpose."""
import time

WEIGHTS = {"a": 1, "b": 2, "c": 3}


def train(ctx):
    p1 = ctx.get_param("p1", 1)
    p2 = ctx.get_param("p2", "a")
    print(f"training p1={p1} p2={p2} token={ctx.get_secret('TOKEN')}")
    if p2 == "boom" or p1 == 0:
        raise RuntimeError(f"cannot train with p1={p1} p2={p2}")
    ctx.log_output("accuracy", p1 * WEIGHTS[p2])
    ctx.log_output("loss", 100 - p1)
    ctx.log_artifact("model.txt", body=f"model {p1} {p2}")


def nap(ctx):
    time.sleep(ctx.get_param("seconds", 0.1))
    ctx.log_output("slept", ctx.get_param("seconds", 0.1))
