"""``shoplens demo``: the main job end to end, offline by default.

1. starts the local test shop (a stand-in for a real store);
2. crawls it with the spiders, JavaScript pages through Selenium, into a dataset;
3. trains on it (offline ImageNet backbone, frozen, cached features) and evaluates it;
4. builds the catalogue index (visual search), archives the model, starts redis-server,
   TorchServe and the gunicorn-run API, and prints the top 3 products like one crawled picture;
5. opens the shop in headless Chromium with the extension and reads the labels it put there;
6. leaves the stack running (``shoplens stop`` stops it) or, with ``--once``, stops it.

Every process it starts is recorded in OUT/stack.json as soon as it runs, so a failed stage
stops what was started, ``shoplens stop`` finds a stack left running, and a second run
first stops the first one.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from mainjob.extension import ExtensionBrowser
from network.models import ARCHITECTURES
from serving.index.build import build_index
from serving.operations.stack import ROOT, Stack
from shoplens import ShopLensError, settings
from shoplens.cli import run_cli
from shoplens.manifest import read_manifest
from shoplens.processes import LocalProcess, free_port, stop_process_group, wait_for

STAGES = ("test shop", "crawl", "train and evaluate", "serve", "extension on the shop", "finish")
DEFAULT_CATEGORIES = "dress,shirt,pullover,pants,skirt"
DEFAULT_COLOURS = "red,blue,green,black"


class TestShop(LocalProcess):
    name = "the test shop"

    def __init__(self, args: argparse.Namespace, log: Path) -> None:
        super().__init__(log)
        self.args, self.port = args, free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "crawler.testshop", "--port", str(self.port), "--categories",
                self.args.categories, "--colours", self.args.colours, "--per-label", str(self.args.per_label)]

    def ready(self) -> bool:
        with urllib.request.urlopen(self.url + "/", timeout=1) as response:
            return response.status == 200


class StackRecord:
    """OUT/stack.json: the process groups this job left running, and where they answer."""

    def __init__(self, out: Path) -> None:
        self.path = out / "stack.json"

    def write(self, pids: list[int], **facts: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"pids": pids, **facts}, indent=2), encoding="utf-8")

    def stop(self) -> bool:
        """Stops what a recorded stack left running; False when nothing was recorded."""
        if not self.path.exists():
            return False
        for pid in reversed(json.loads(self.path.read_text(encoding="utf-8"))["pids"]):
            stop_process_group(pid)
        self.path.unlink()
        return True


def _stage(number: int, detail: str = "") -> float:
    print(f"[{number}/{len(STAGES)}] {STAGES[number - 1]}{': ' + detail if detail else ''}", flush=True)
    return time.perf_counter()


def _done(started: float, detail: str) -> None:
    print(f"      done in {time.perf_counter() - started:.1f} s: {detail}", flush=True)


def _crawl(args: argparse.Namespace, shop_url: str, data: Path, log: Path) -> int:
    source = ["--source", args.source, "--start", args.site] if args.site else \
        ["--start", shop_url, "--js-pages", "/new-arrivals", "--no-throttle"]
    labels = ["--terms", args.terms] if args.terms else ["--categories", args.categories, "--colours", args.colours]
    command = [sys.executable, "-m", "crawler", "crawl", *source, *labels, "--out", str(data)]
    with log.open("ab") as output:
        result = subprocess.run(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, timeout=args.crawl_timeout)
    if result.returncode != 0:
        raise ShopLensError(f"the crawl exited with {result.returncode} (log: {log})")
    with (data / "manifest.csv").open(encoding="utf-8") as manifest:
        return sum(1 for _ in manifest) - 1


def _train(args: argparse.Namespace, data: Path, model: Path) -> dict[str, Any]:
    from training.cli import build_parser

    argv = ["train", "--data", str(data), "--out", str(model), "--arch", args.arch, "--weights", args.weights,
            "--epochs", str(args.epochs), "--workers", "0"]
    train = build_parser().parse_args(argv)
    train.func(train)  # a ShopLensError says why, and the demo says which stage
    return json.loads((model / "metrics.json").read_text(encoding="utf-8"))


def _accuracy_line(metrics: dict[str, Any]) -> str:
    from training.metrics import accuracy_text

    split = "test" if "test" in metrics["evaluations"] else "validation"
    return f"{split} category {accuracy_text(metrics['evaluations'][split]['category'])}"


def shop_truth(shop_url: str) -> dict[str, str]:
    """Card id -> "category · colour" as the test shop lists its products."""
    with urllib.request.urlopen(f"{shop_url}/products.json?limit=1000", timeout=10) as response:
        products = json.loads(response.read())["products"]
    return {p["id"]: f"{p['product_type']} · {p['tags'][0]}" for p in products}


def _label_shop(stack: Stack, key: str, shop_url: str, cards: int, out: Path) -> list[list[str]]:
    browser = ExtensionBrowser(Path(tempfile.mkdtemp(prefix="shoplens-chromium-")))
    try:
        browser.configure(stack.api.url, key)
        browser.driver.get(f"{shop_url}/shop")
        browser.scroll_to_the_end(cards)
        history: list[tuple[float, int]] = []

        def settled() -> bool:  # badges on the page and none added for two seconds
            history.append((time.monotonic(), len(browser.labelled())))
            now, count = history[-1]
            steady = {c for t, c in history if t >= now - 2}
            return count > 0 and history[0][0] <= now - 2 and steady == {count}

        wait_for(settled, 60, "the badges to settle")
        labels = browser.labelled()
        browser.driver.execute_script("window.scrollTo(0, 0)")
        browser.driver.save_screenshot(str(out / "shop-labelled.png"))
        return labels
    finally:
        browser.quit()


def _print_labels(labels: list[list[str]], truth: dict[str, str], out: Path) -> str:
    """Prints every badge beside the shop's own label; returns the agreement line."""
    (out / "labels.json").write_text(json.dumps(labels, indent=2), encoding="utf-8")
    print(f"      {'card':<13} {'the shop says':<22} badge (? = low confidence)")
    agree = 0
    for card, text, low in labels:
        said = truth.get(card, "?")
        agree += text.rsplit(" · ", 1)[0] == said
        print(f"      {card:<13} {said:<22} {'? ' if low == 'true' else ''}{text}")
    return f"{agree} of {len(labels)} badges agree with the shop's category and colour"


def _print_similar(api_url: str, key: str, data: Path) -> None:
    """Visual search through the API: the top 3 catalogue products like the crawl's first picture."""
    row = read_manifest(data / "manifest.csv")[0]
    request = urllib.request.Request(f"{api_url}/v1/similar?k=3", data=(data / row["path"]).read_bytes(),
                                     headers={"X-API-Key": key, "Content-Type": "image/jpeg"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    print(f"  more like {row['page_url']} ({row['category']} {row['colour']}):", flush=True)
    for result in answer["results"]:
        print(f"    {result['similarity']:.4f}  {result['page_url']}  {result['category']} {result['colour']}",
              flush=True)


def run_demo(args: argparse.Namespace) -> None:
    out = Path(args.out).resolve()
    record = StackRecord(out)
    if record.stop():
        print(f"stopped the stack an earlier run left running ({record.path})")
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    running: list[LocalProcess | Stack] = []
    stage = 1
    try:
        started = _stage(1)
        shop = TestShop(args, logs / "testshop.log")
        running.append(shop.start())
        record.write([shop.process.pid])
        _done(started, f"{shop.url}/shop")

        stage, started = 2, _stage(2, args.site or shop.url)
        count = _crawl(args, shop.url, out / "data", logs / "crawl.log")
        _done(started, f"{count} pictures in {out / 'data'} (log {logs / 'crawl.log'})")

        stage, started = 3, _stage(3, f"{args.arch}, weights {args.weights}")
        metrics = _train(args, out / "data", out / "model")
        _done(started, f"{_accuracy_line(metrics)}; report {out / 'model' / 'report' / 'index.html'}")

        stage, started = 4, _stage(4)
        key, admin_key = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        index = build_index(out / "data" / "manifest.csv", out / "model" / "bundle", out / "index", fresh=True)
        print(f"  catalogue {index.line()}", flush=True)
        stack = Stack(out / "model" / "bundle", out / "stack", [key], instances=args.instances,
                      api_environment=settings.environment({settings.INDEX_DIR: str(out / "index"),
                                                            settings.ADMIN_KEYS: [admin_key]}))
        running.append(stack)
        stack.start()
        record.write([shop.process.pid, *stack.pids()], api=stack.api.url, shop=shop.url, api_key=key)
        _print_similar(stack.api.url, key, out / "data")
        _done(started, f"API {stack.api.url}, TorchServe {', '.join(t.inference_url for t in stack.torchserves)}")

        stage, started = 5, _stage(5)
        truth = shop_truth(shop.url)
        labels = _label_shop(stack, key, shop.url, len(truth), out)
        agreement = _print_labels(labels, truth, out)
        _done(started, f"{len(labels)} pictures labelled, {agreement}; screenshot {out / 'shop-labelled.png'}")
    except BaseException as exc:
        for part in reversed(running):
            part.stop()
        record.path.unlink(missing_ok=True)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ShopLensError(f"stage {stage} ({STAGES[stage - 1]}) failed: {exc}") from None

    started = _stage(6)
    if args.once:
        for part in reversed(running):
            part.stop()
        record.path.unlink(missing_ok=True)
        _done(started, "stack stopped (--once)")
    else:
        _done(started, f"stack left running: shop {shop.url}/shop, API {stack.api.url} (X-API-Key {key}), "
                       f"review queue {stack.api.url}/review (admin key {admin_key}). "
                       f"Stop it with: {Path(sys.executable).parent / 'shoplens'} stop --out {args.out}")


def run_stop(args: argparse.Namespace) -> None:
    record = StackRecord(Path(args.out).resolve())
    print("stopped" if record.stop() else f"nothing running (no {record.path})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shoplens", description="ShopLens: the main job and its stack.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="spiders to labels on a shop page, end to end")
    demo.add_argument("--out", default="runs/main", help="where everything goes (default: %(default)s)")
    demo.add_argument("--once", action="store_true", help="stop the stack at the end")
    demo.add_argument("--categories", default=DEFAULT_CATEGORIES, help="(default: %(default)s)")
    demo.add_argument("--colours", default=DEFAULT_COLOURS, help="(default: %(default)s)")
    demo.add_argument("--per-label", type=int, default=6, help="test-shop products per label (default: 6)")
    demo.add_argument("--site", help="crawl this real site instead of the test shop (needs internet)")
    demo.add_argument("--source", default="shop", choices=("shop", "catalogue", "image_search"),
                      help="spider for --site (default: %(default)s)")
    demo.add_argument("--terms", help="file of search terms, one 'colour category' a line, for --site")
    demo.add_argument("--arch", default="efficientnet_lite0", choices=ARCHITECTURES)
    demo.add_argument("--weights", default="imagenet", help="imagenet (vgg16/resnet50 download it), none, or PATH")
    demo.add_argument("--epochs", type=int, default=20)
    demo.add_argument("--instances", type=int, default=1, help="TorchServe instances behind the API")
    demo.add_argument("--crawl-timeout", type=float, default=600, help="seconds (default: %(default)s)")
    demo.set_defaults(func=run_demo)
    stop = commands.add_parser("stop", help="stop the stack a demo left running")
    stop.add_argument("--out", default="runs/main", help="the demo's --out (default: %(default)s)")
    stop.set_defaults(func=run_stop)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv, "stopped; everything it had started was stopped too")
