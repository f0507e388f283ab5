"""Benchmark: the serving stack under load, on loopback only, with a bounded number of requests.

Starts redis-server, TorchServe and the gunicorn-run API (serving.stack.Stack) for a model
bundle, then reports p50/p95/p99 latency and throughput of POST /v1/classify for cache
misses (every picture new) and cache hits (the same pictures again), at 1 and 8
concurrent clients, with TorchServe's dynamic batching on (batch 8, 20 ms) and off
(batch 1). The reference is the same handler run in-process, without TorchServe, HTTP or
the cache. Without --bundle it first trains the demo model (efficientnet_lite0 head on the
drawn sample, about a minute).

    .venv/bin/python bench/serve_load.py [--bundle DIR] [--requests 96]
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

from serving.handler import ShopLensHandler
from serving.stack import Stack
from shoplens.sample import SHAPES, draw_garment, jpeg_bytes
from training.cli import main as training_main

KEY = "bench-key"


def pictures(count: int, offset: int) -> list[bytes]:
    """`count` distinct drawn garment JPEGs (different seeds never repeat a picture)."""
    result = []
    for seed in range(offset, offset + count):
        rng = random.Random(seed)
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


def in_process_sender(bundle: Path) -> Callable[[], Callable[[bytes], None]]:
    handler = ShopLensHandler()
    handler.initialize(SimpleNamespace(system_properties={"model_dir": str(bundle), "gpu_id": None}))
    worker = ThreadPoolExecutor(max_workers=1)  # one model in one worker, first come first served, like TorchServe

    def answer(picture: bytes) -> dict:
        return handler.postprocess(handler.inference(handler.preprocess([{"body": picture}])))[0]

    def send(picture: bytes) -> None:
        result = worker.submit(answer, picture).result()
        if "error" in result:
            raise RuntimeError(result["error"])

    return lambda: send


def row(path: str, batching: str, clients: int, latencies: list[float], wall: float) -> str:
    ms = sorted(1000 * value for value in latencies)
    quantiles = statistics.quantiles(ms, n=100, method="inclusive")
    return (f"| {path} | {batching} | {clients} | {len(ms)} | {len(ms) / wall:.1f} | {quantiles[49]:.1f} | "
            f"{quantiles[94]:.1f} | {quantiles[98]:.1f} |")


def demo_bundle(out: Path) -> Path:
    bundle = out / "demo" / "bundle"
    if not (bundle / "bundle.json").exists() and training_main(["demo", "--out", str(out / "demo")]) != 0:
        sys.exit("training the demo model failed")
    return bundle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="model bundle (default: train the demo model)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-serve"))
    parser.add_argument("--requests", type=int, default=96, help="requests per cache-miss row (default: %(default)s)")
    args = parser.parse_args()
    bundle = args.bundle or demo_bundle(args.out)
    rows, offset = [], 0
    for batching, batch_size in (("on (8, 20 ms)", 8), ("off", 1)):
        with Stack(bundle, args.out / "stack", [KEY], batch_size=batch_size,
                   api_environment={"SHOPLENS_RATE_LIMIT": "1000000"}).start() as stack:  # measure, not throttle
            run_load(http_sender(stack.api.url, False), pictures(4, 10_000 + offset), 1)  # warm-up
            for clients in (1, 8):
                payloads = pictures(args.requests, offset)
                offset += args.requests
                rows.append(row("cache miss (API -> TorchServe)", batching, clients,
                                *run_load(http_sender(stack.api.url, False), payloads, clients)))
                if batch_size > 1:
                    rows.append(row("cache hit (API -> Redis)", "-", clients,
                                    *run_load(http_sender(stack.api.url, True), payloads * 4, clients)))
    reference = in_process_sender(bundle)
    for clients in (1, 8):
        payloads = pictures(args.requests, offset)
        offset += args.requests
        rows.append(row("in-process handler (reference)", "-", clients, *run_load(reference, payloads, clients)))
    print(f"\nmodel bundle {bundle}; POST /v1/classify, one JPEG (192x256) per request; loopback")
    print("| path | TorchServe batching | clients | requests | throughput (req/s) | p50 ms | p95 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
