"""Benchmark: the serving stack under load, on loopback only, with a bounded number of requests.

For each served runtime (exported TorchScript, ONNX Runtime, OpenVINO on the same ONNX file; a
bundle without the export is exported as `shoplens-serve archive` does; --runtimes picks some)
it starts redis-server, TorchServe and the gunicorn-run API (serving.operations.stack.Stack) with
an archive of the bundle for that runtime (batching, threads and workers as the bundle says, or
--threads/--workers), and measures
POST /v1/classify for cache misses (every picture new) at 1 and 8 concurrent clients; then,
with the stack stopped, the bare model: the handler's picture pipeline in this process
(decode, preprocess, model, answer; no TorchServe, HTTP or cache) with the threads
TorchServe's worker logged, on the same pictures, one at a time and in batches of the
archive's batch size; the eager network in-process is the reference beside them. Every
served row shows its ratio to its bare model from the same run. Cache hits (the same
pictures again) and batching off (batch 1) are measured for ONNX Runtime. The pictures
are clothing-small's validation photographs where present (re-encoded for every reuse, so
each request is a cache miss), else drawn garments. Then each runtime's accuracy on those
photographs (handler's pipeline in-process), with McNemar's exact test against eager. It ends with the targets: served
cache-miss p50 <= 40 ms at 1 client, >= 30 pictures/s at 8 clients, and each within
1.3x of its bare model. Without --bundle it first trains the demo model
(efficientnet_lite0 head on the drawn sample, about a minute).

    nice -n 5 .venv/bin/python bench/serve_load.py [--bundle DIR] [--requests 96] [--threads N] [--workers N]
        [--batch-size N] [--runtimes torchscript,onnx,openvino]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import torch
from clothing_small import DEFAULT_DATA

from network.export import eager_predictor
from serving.operations.archive import servable
from serving.operations.stack import Stack
from shoplens import ShopLensError
from shoplens.bundle import read_bundle
from shoplens.classifier import PictureClassifier
from shoplens.exported import load_predictor
from shoplens.imaging import decode_image, jpeg_bytes
from shoplens.sample import SHAPES, draw_garment
from shoplens.stats import mcnemar, t_interval
from training.cli import main as training_main

KEY = "bench-key"
SERVED_RUNTIMES = ("torchscript", "onnx", "openvino")


def pictures(count: int, offset: int, photographs: list[Path] | tuple = ()) -> list[bytes]:
    """`count` distinct JPEGs: photographs in turn, each reuse re-encoded at another quality (new bytes, so a
    cache miss), or drawn garments (different seeds never repeat a picture)."""
    result = []
    for index in range(offset, offset + count):
        if photographs:
            reuse, position = divmod(index, len(photographs))
            data = photographs[position].read_bytes()
            result.append(data if reuse == 0 else jpeg_bytes(decode_image(data), 95 - reuse))
            continue
        rng = random.Random(index)
        result.append(jpeg_bytes(draw_garment(rng.choice(sorted(SHAPES)),
                                              rng.choice(["red", "blue", "black", "white"]), (192, 256), rng)))
    return result


def run_load(send_factory: Callable[[], Callable[[bytes], None]], payloads: list[bytes],
             clients: int) -> tuple[list[float], float]:
    """Each client thread sends its share of `payloads` one after another; returns latencies and wall time."""
    latencies: list[float] = []
    failures: list[Exception] = []
    lock = threading.Lock()

    def client(share: list[bytes]) -> None:
        send = send_factory()
        try:
            for payload in share:
                begun = time.perf_counter()
                send(payload)
                with lock:
                    latencies.append(time.perf_counter() - begun)
        except Exception as exc:  # a failed request spoils the row: reported, not averaged in
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(payloads[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        sys.exit(f"load run failed: {failures[0]}")
    return latencies, time.perf_counter() - started


def http_sender(api_url: str, expect_cached: bool) -> Callable[[], Callable[[bytes], None]]:
    host = urlsplit(api_url)
    if host.hostname != "127.0.0.1":
        sys.exit("load tests target loopback only")

    def factory() -> Callable[[bytes], None]:
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=30)

        def send(picture: bytes) -> None:
            connection.request("POST", "/v1/classify", body=picture,
                               headers={"Content-Type": "image/jpeg", "X-API-Key": KEY})
            response = connection.getresponse()
            body = response.read()
            if response.status != 200 or (b'"cached":true' in body) != expect_cached:
                raise RuntimeError(f"unexpected answer {response.status}: {body[:200]!r}")

        return send

    return factory


def worker_threads(stack: Stack) -> int:
    """The torch threads TorchServe's worker runs with, from the handler's start-up line in the model log."""
    log = (stack.torchserves[0].workdir / "logs" / "model_log.log").read_text(encoding="utf-8", errors="replace")
    found = re.findall(r"runtime, (\d+) threads", log)
    if not found:
        sys.exit("the TorchServe worker logged no thread count")
    return int(found[-1])


Classify = Callable[[list[bytes]], list[dict]]


def bare_model(bundle: Path, runtime: str, threads: int) -> Classify:
    """The handler's picture pipeline alone in this process: decode, preprocess, model, answer; no TorchServe,
    HTTP or cache. It runs with the threads TorchServe's worker logged, so both sides compare like for like;
    "eager" is the network itself (the reference every export reproduces)."""
    torch.set_num_threads(threads)
    if runtime == "eager":
        info, predict = read_bundle(bundle)[0], eager_predictor(bundle)
    else:
        served = servable(bundle, runtime)
        info = read_bundle(served)[0]
        predict = load_predictor(served, info, runtime, threads)
    classifier = PictureClassifier(info, predict, info.serving.low_confidence_margin)

    def classify(payloads: list[bytes]) -> list[dict]:
        prepared = classifier.prepare(payloads)
        return classifier.answers(prepared, classifier.predict(prepared))

    return classify


def bare_sender(classify: Classify) -> Callable[[], Callable[[bytes], None]]:
    def send(picture: bytes) -> None:
        if "error" in classify([picture])[0]:
            raise RuntimeError("the bare model rejected a picture")

    return lambda: send


def bare_batched(classify: Classify, payloads: list[bytes], size: int) -> tuple[list[float], float]:
    """The bare model on batches of `size` pictures; latency is per batch, throughput per picture."""
    latencies, started = [], time.perf_counter()
    for first in range(0, len(payloads), size):
        begun = time.perf_counter()
        classify(payloads[first:first + size])
        latencies.append(time.perf_counter() - begun)
    return latencies, time.perf_counter() - started


@dataclass
class Row:
    path: str
    runtime: str
    batching: str
    clients: int
    latencies: list[float]
    wall: float
    pictures: int = 0

    @property
    def throughput(self) -> float:
        return (self.pictures or len(self.latencies)) / self.wall

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000

    def markdown(self, bare: Row | None) -> str:
        ms = sorted(1000 * value for value in self.latencies)
        q = statistics.quantiles(ms, n=100, method="inclusive")
        ratio = f"{self.p50 / bare.p50:.2f}x p50, {self.throughput / bare.throughput:.2f}x req/s" if bare else "-"
        return (f"| {self.path} | {self.runtime} | {self.batching} | {self.clients} | {len(ms)} | "
                f"{self.throughput:.1f} | {q[49]:.1f} | {q[94]:.1f} | {q[98]:.1f} | {ratio} |")


def demo_bundle(out: Path) -> Path:
    bundle = out / "demo" / "bundle"
    try:
        read_bundle(bundle)
    except ShopLensError:  # none yet, or an older format
        if training_main(["demo", "--out", str(out / "demo")]) != 0:
            sys.exit("training the demo model failed")
    return bundle


class Pictures:
    """Fresh pictures on every call, so cache-miss rows never hit the cache."""

    def __init__(self, photographs: list[Path]) -> None:
        self.offset, self.photographs = 0, photographs

    def take(self, count: int) -> list[bytes]:
        self.offset += count
        return pictures(count, self.offset - count, self.photographs)


@dataclass
class Served:
    """One runtime through the stack: cache-miss rows by clients, cache-hit rows, the worker's threads."""

    misses: dict[int, Row]
    hits: list[Row]
    threads: int
    pictures: dict[int, list[bytes]]


def serve(bundle: Path, out: Path, runtime: str, settings: dict, fresh: Pictures, requests: int,
          hits: bool) -> Served:
    """Cache-miss rows (and cache-hit rows when `hits`) through the API for one runtime's archive."""
    misses, hit_rows, used = {}, [], {}
    with Stack(bundle, out / f"stack-{runtime}", [KEY], model_settings={"runtime": runtime, **settings},
               api_environment={"SHOPLENS_RATE_LIMIT": "1000000", "SHOPLENS_INFERENCE_TIMEOUT": "60"}).start() as stack:
        model = json.loads(stack.torchserves[0].request("management", "GET", "/models/shoplens")[1])[0]
        batching = f"{model['batchSize']}, {model['maxBatchDelay']} ms"
        run_load(http_sender(stack.api.url, False), fresh.take(8), 1)  # warm-up
        for clients in (1, 8):
            used[clients] = fresh.take(requests)
            misses[clients] = Row("cache miss (API -> TorchServe)", runtime, batching, clients,
                                  *run_load(http_sender(stack.api.url, False), used[clients], clients))
            if hits:
                hit_rows.append(Row("cache hit (API -> Redis)", "-", "-", clients,
                                    *run_load(http_sender(stack.api.url, True), used[clients] * 4, clients)))
        return Served(misses, hit_rows, worker_threads(stack), used)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="model bundle (default: train the demo model)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-serve"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="clothing-small (its validation photographs)")
    parser.add_argument("--requests", type=int, default=96, help="requests per cache-miss row (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="model threads per worker (default: the bundle's)")
    parser.add_argument("--workers", type=int, help="TorchServe workers (default: the bundle's)")
    parser.add_argument("--batch-size", type=int, help="TorchServe's batch size (default: the bundle's)")
    parser.add_argument("--runtimes", default=",".join(SERVED_RUNTIMES),
                        help="served runtimes to measure, comma-separated (default: %(default)s; onnx always)")
    args = parser.parse_args()
    runtimes = [r for r in SERVED_RUNTIMES if r in args.runtimes.split(",") or r == "onnx"]
    bundle = args.bundle or demo_bundle(args.out)
    batch_size = args.batch_size or read_bundle(bundle)[0].serving.batch_size
    settings = {name: value for name, value in (("threads", args.threads), ("workers", args.workers),
                                                ("batch_size", args.batch_size)) if value}
    photographs = sorted((args.data / "validation").rglob("*.jpg"))
    fresh, lines, served, bares = Pictures(photographs), [], {}, {}
    for runtime in runtimes:
        served[runtime] = result = serve(bundle, args.out, runtime, settings, fresh, args.requests, runtime == "onnx")
        bares[runtime], bare_batches = bare_rows(bundle, runtime, result, batch_size, fresh)
        lines += [result.misses[1].markdown(bares[runtime]), result.misses[8].markdown(bare_batches),
                  *(row.markdown(None) for row in result.hits), bares[runtime].markdown(None),
                  bare_batches.markdown(None)]
    eager, eager_batches = bare_rows(bundle, "eager", served["onnx"], batch_size, fresh)
    lines += [eager.markdown(None), eager_batches.markdown(None)]
    unbatched = serve(bundle, args.out, "onnx", {**settings, "batch_size": 1}, fresh, args.requests, False)
    lines += [row.markdown(bares["onnx"]) for row in unbatched.misses.values()]
    source = f"{len(photographs)} clothing-small validation photographs" if photographs else "drawn JPEGs (192x256)"
    print(f"\nmodel bundle {bundle}; POST /v1/classify, one picture per request ({source}); loopback; "
          f"{unbatched.threads} model threads in TorchServe's worker and in the reference")
    print("| path | runtime | TorchServe batch (size, delay) | clients | requests | throughput (req/s) | p50 ms | "
          "p95 ms | p99 ms | vs bare model |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(lines))
    print_accuracy(bundle, photographs, served["onnx"].threads, runtimes)
    print_targets(served, bares, eager)
    return 0


def print_accuracy(bundle: Path, photographs: list[Path], threads: int, runtimes: list[str]) -> None:
    """Each runtime's category accuracy on the validation photographs (their folder is the label), through the
    handler's picture pipeline, with McNemar's exact test against the eager network on the same pictures."""
    if not photographs:
        return
    labels = [p.parent.name for p in photographs]
    right = {}
    for runtime in ("eager", *runtimes):
        classify = bare_model(bundle, runtime, threads)
        answers = [answer for first in range(0, len(photographs), 8)
                   for answer in classify([p.read_bytes() for p in photographs[first:first + 8]])]
        right[runtime] = [answer.get("category") == label for answer, label in zip(answers, labels, strict=True)]
    print(f"\naccuracy on the validation split (n={len(photographs)}, the handler's pipeline in-process):")
    for runtime, hits in right.items():
        line = f"  {runtime}: {t_interval([float(h) for h in hits])}"
        if runtime != "eager":
            paired = mcnemar(right["eager"], hits)
            line += f"; against eager: only eager right {paired.b}, only {runtime} right {paired.c}, " \
                    f"McNemar exact p={paired.p:.4f}"
        print(line)


def bare_rows(bundle: Path, runtime: str, result: Served, batch_size: int, fresh: Pictures) -> tuple[Row, Row]:
    """The bare model one picture at a time and in batches, on the pictures the stack was sent."""
    classify = bare_model(bundle, runtime, result.threads)  # measured with the stack stopped: the model alone
    run_load(bare_sender(classify), fresh.take(8), 1)  # warm-up
    one = Row("bare model in-process (reference)", runtime, "-", 1,
              *run_load(bare_sender(classify), result.pictures[1], 1))
    batches = Row("bare model in-process (reference)", runtime, f"batches of {batch_size}", 8,
                  *bare_batched(classify, result.pictures[8], batch_size), pictures=len(result.pictures[8]))
    return one, batches


def print_targets(served: dict[str, Served], bares: dict[str, Row], eager: Row) -> None:
    print("\ntargets:")
    for runtime, result in served.items():
        p50, at8 = result.misses[1].p50, result.misses[8].throughput
        ratio = p50 / bares[runtime].p50
        print(f"  {runtime}: cache-miss p50 at 1 client {p50:.1f} ms (target <= 40: {'met' if p50 <= 40 else 'missed'})"
              f", {ratio:.2f}x the bare model's {bares[runtime].p50:.1f} ms (target <= 1.3x: "
              f"{'met' if ratio <= 1.3 else 'missed'}); {at8:.1f} pictures/s at 8 clients (target >= 30: "
              f"{'met' if at8 >= 30 else 'missed'}), {at8 / eager.throughput:.2f}x the eager network's "
              f"{eager.throughput:.1f} in-process")


if __name__ == "__main__":
    sys.exit(main())
