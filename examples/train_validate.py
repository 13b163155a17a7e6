"""Two handlers for a two-step pipeline: ``train`` feeds ``validate`` (a result and an artifact).

    python -m mlrun run --handler train -p lr=0.1 train_validate.py
    python -m mlrun run --handler validate -p min_accuracy=0.9 -i model.txt=model.txt train_validate.py

``deploy/pipeline_two_steps.py`` chains them in Kubeflow Pipelines: train's ``accuracy`` becomes
validate's ``min_accuracy`` parameter, train's ``model.txt`` artifact its ``model.txt`` input.
"""


def train(ctx):
    lr = ctx.get_param("lr", 0.1)
    epochs = ctx.get_param("epochs", 3)
    loss = 1.0
    for epoch in range(1, epochs + 1):
        loss *= 1 - lr
        ctx.log_metric("loss", round(loss, 6), epoch)
    accuracy = round(1 - loss / 2, 6)
    ctx.log_output("accuracy", accuracy)
    ctx.log_output("epochs", epochs)
    ctx.log_artifact("model.txt", body=f"weights lr={lr} epochs={epochs}\n")
    rows = "".join(f"<tr><td>{e}</td><td>{(1 - lr) ** e:.4f}</td></tr>" for e in range(1, epochs + 1))
    ctx.log_artifact("loss.html", body=f"<table><tr><th>epoch</th><th>loss</th></tr>{rows}</table>")


def validate(ctx):
    min_accuracy = ctx.get_param("min_accuracy", 0.5)
    model = ctx.get_object("model.txt").get().decode()
    lr = float(model.split("lr=")[1].split()[0])
    # the model does a little worse on data it has not seen
    accuracy = round(min_accuracy - lr / 100, 6)
    ctx.log_output("validation_accuracy", accuracy)
    ctx.log_output("model_summary", model.strip())
    ctx.log_output("passed", accuracy >= 0.5)
