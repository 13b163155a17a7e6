"""Model serving: a V2 ``infer`` through ``mlrun serve``, side by side with ``predict`` behind a bare Flask app.

    python bench/bench_serving.py                 # 20 rounds of 100 requests each way
    python bench/bench_serving.py --requests 30   # quicker

Served: a logistic regression trained on iris (scikit-learn), pickled, served by ``mlrun serve`` on a serving
function's YAML (``SklearnModelServer``: the V2 routes, the request checks, the JSON answer with its id and
timestamp, the access log).  The baseline is a bare Flask app on waitress (as many threads) that loads the same
pickle and answers ``{"outputs": model.predict(inputs).tolist()}``: the two differ only by what mlrun adds.
One client (``requests``, one session) sends the same 5 rows to each, alternating in short rounds so both see
the same machine; reported: requests per second (the median round), p50/p99 latency, and the ratio
mlrun / Flask (the median of the rounds' ratios; target at least 0.6x).

In process: the mock server's ``test("/v2/models/iris/infer", body)`` against a direct ``model.predict`` call
on the same rows (medians per call, and what the mock server adds).

Servers listen on 127.0.0.1 at free ports and are stopped at the end.
"""
from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import tempfile

from bench_serve import free_port, percentile, start, timed

ROUNDS = 20

FLASK_APP = """
import pickle, sys
import numpy
from flask import Flask, request
from waitress import serve

with open(sys.argv[3], "rb") as fp:
    model = pickle.load(fp)
app = Flask("predict")

@app.post("/predict")
def predict():
    return {"outputs": model.predict(numpy.asarray(request.get_json()["inputs"])).tolist()}

@app.get("/healthz")
def healthz():
    return {"status": "ok"}

serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]), _quiet=True)
"""


def train(work: str):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(features, labels)
    path = os.path.join(work, "iris.pkl")
    with open(path, "wb") as fp:
        pickle.dump(model, fp)
    return model, path, features[[0, 50, 100, 70, 120]].tolist()


def served(work: str, model_path: str, rows: list, requests_count: int, threads: int) -> None:
    import requests

    import mlrun

    fn = mlrun.new_function("iris", kind="serving")
    fn.add_model("iris", model_path=model_path)
    spec = os.path.join(work, "iris.yaml")
    fn.export(spec)
    mlrun_port, flask_port = free_port(), free_port()
    app = os.path.join(work, "predict_app.py")
    with open(app, "w") as fp:
        fp.write(FLASK_APP)
    servers = [
        start([sys.executable, "-m", "mlrun", "serve", spec, "--port", str(mlrun_port), "--threads", str(threads)],
              f"http://127.0.0.1:{mlrun_port}", work),
        start([sys.executable, app, str(flask_port), str(threads), model_path], f"http://127.0.0.1:{flask_port}", work),
    ]
    try:
        session = requests.Session()
        body = {"inputs": rows}
        urls = {"mlrun serve (V2 infer)": f"http://127.0.0.1:{mlrun_port}/v2/models/iris/infer",
                "bare Flask (predict)": f"http://127.0.0.1:{flask_port}/predict"}
        answers = {name: session.post(url, json=body, timeout=30).json()["outputs"] for name, url in urls.items()}
        assert len({str(a) for a in answers.values()}) == 1, answers  # the same predictions both ways

        def post(url):
            return lambda n: session.post(url, json=body, timeout=30).raise_for_status()

        latencies: dict[str, list[float]] = {name: [] for name in urls}
        rates: dict[str, list[float]] = {name: [] for name in urls}
        for _ in range(ROUNDS):
            for name, url in urls.items():
                times = timed(post(url), requests_count)
                latencies[name] += times
                rates[name].append(len(times) / sum(times))
        print(f"served, {ROUNDS} rounds of {requests_count} requests ({threads} server threads):")
        for name in urls:
            lat = latencies[name]
            print(f"  {name:24} {statistics.median(rates[name]):8.0f} req/s   p50 {percentile(lat, 0.5) * 1000:6.2f} ms"
                  f"   p99 {percentile(lat, 0.99) * 1000:6.2f} ms")
        mlrun_name, flask_name = urls
        ratio = statistics.median(m / f for m, f in zip(rates[mlrun_name], rates[flask_name], strict=True))
        print(f"  ratio mlrun serve / bare Flask: {ratio:.2f}x (target >= 0.6x)")
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)


def in_process(model, model_path: str, rows: list, calls: int) -> None:
    import numpy

    import mlrun

    fn = mlrun.new_function("iris", kind="serving")
    fn.add_model("iris", model_path=model_path)
    server = fn.to_mock_server()
    body = {"inputs": rows}
    direct, mock = [], []
    for _ in range(ROUNDS):
        direct += timed(lambda n: model.predict(numpy.asarray(rows)).tolist(), calls)
        mock += timed(lambda n: server.test("/v2/models/iris/infer", body), calls)
    d, m = statistics.median(direct) * 1e6, statistics.median(mock) * 1e6
    print(f"in process, {ROUNDS} rounds of {calls} calls:")
    print(f"  direct model.predict         {d:8.1f} us per call (median)")
    print(f"  mock server test()           {m:8.1f} us per call (median): +{m - d:.1f} us, {m / d:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100, help="requests per round and server")
    parser.add_argument("--threads", type=int, default=4, help="server threads, both servers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as work:
        model, model_path, rows = train(work)
        in_process(model, model_path, rows, 200)
        served(work, model_path, rows, args.requests, args.threads)


if __name__ == "__main__":
    main()
