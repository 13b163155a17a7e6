"""A training stand-in for the README's hyper-parameter examples: ``train(ctx)`` logs ``accuracy`` and ``loss``.

    mlrun run --param-file examples/params.csv --selector min.loss --handler train examples/train.py
    mlrun run -x lr=[0.1,0.01] -x depth=[2,4] --selector max.accuracy examples/train.py
"""
from mlrun import get_or_create_ctx


def train(ctx):
    p1 = ctx.get_param('p1', 1)
    lr = ctx.get_param('lr', 0.1)
    depth = ctx.get_param('depth', 2)
    # a made-up score that depends on every parameter, so sweeps have a best iteration to pick
    accuracy = round(min(0.99, 0.5 + 0.05 * depth + lr + 0.01 * (p1 if isinstance(p1, (int, float)) else 0)), 4)
    loss = round(1 - accuracy, 4)
    for step in range(1, 4):
        ctx.log_metric('loss', round(loss * (4 - step), 4), step)
    ctx.log_output('accuracy', accuracy)
    ctx.log_output('loss', loss)


if __name__ == "__main__":
    with get_or_create_ctx('train') as context:
        train(context)
