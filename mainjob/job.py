"""``shoplens demo``: the main job end to end, offline by default.

1. starts the demo shop: real product photographs in a shop theme's markup (``--shop drawn``:
   the drawn test shop, fast, for tests);
2. crawls it with the spiders, its JavaScript page through Selenium, into a dataset;
3. trains a shop-specific model on it, on the starter's trunk (efficientnet_lite1, frozen,
   cached features), and evaluates it on the crawl's held-out pictures;
4. builds the catalogue index (visual search), starts redis-server, TorchServe and the
   gunicorn-run API serving the starter model, and puts the shop's model up against it
   (``shoplens-serve promote``: both answer the crawl's held-out pictures through TorchServe;
   McNemar's counts decide, and the winner is served); with the drawn shop, the model
   trained on it is served;
5. opens the shop in headless Chromium with the extension, reads the labels it put on
   every product picture, prints them beside the shop's own with the accuracy and its
   interval, and counts the shop's other pictures (banner, wordmark, a lifestyle scene)
   that got no badge; a screenshot;
6. asks for "more like this" one product, and sends one correction, then finds it in the
   review queue;
7. leaves the stack running (``shoplens stop`` stops it) or, with ``--once``, stops it.

Every process it starts is recorded in OUT/stack.json as soon as it runs, so a failed stage
stops what was started, ``shoplens stop`` finds a stack left running, and a second run
first stops the first one.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mainjob.extension import ExtensionBrowser
from mainjob.shops import DEMO_CATEGORIES, DEMO_COLOURS, DemoShop, Shop, TestShop
from network.models import ARCHITECTURES
from serving.index.build import build_index
from serving.operations.cli import STARTER_BUNDLE
from serving.operations.stack import ROOT, Stack
from shoplens import ShopLensError, settings
from shoplens.cli import run_cli
from shoplens.manifest import read_manifest
from shoplens.processes import LocalProcess, stop_process_group, wait_for
from shoplens.stats import t_interval

STAGES = ("shop", "crawl", "train and evaluate", "serve", "extension on the shop", "more like this and a correction",
          "finish")
DRAWN_CATEGORIES = "dress,shirt,pullover,pants,skirt"
DRAWN_COLOURS = "red,blue,green,black"
STARTER_TRUNK = "efficientnet_lite1"  # the starter's backbone: the shop's model learns a head on the same features
SETTLE_SECONDS = 2  # badges on a page count as all there once none was added for this long
NON_GARMENTS = "img[src*='/others/']"  # the demo shop's banner, wordmark and lifestyle scene


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


def _crawl(args: argparse.Namespace, shop: Shop, data: Path, log: Path) -> int:
    if not args.site:  # the local shop starts on new ports each run: an earlier crawl's addresses are gone
        shutil.rmtree(data, ignore_errors=True)
    source = ["--source", args.source, "--start", args.site] if args.site else \
        ["--start", shop.url, "--js-pages", shop.js_pages, "--no-throttle"]
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
            "--epochs", str(args.epochs), "--workers", "0", *(["--no-colour"] if args.shop == "demo" else [])]
    train = build_parser().parse_args(argv)
    train.func(train)  # a ShopLensError says why, and the demo says which stage
    return json.loads((model / "metrics.json").read_text(encoding="utf-8"))


def _accuracy_line(metrics: dict[str, Any]) -> str:
    from training.metrics import accuracy_text

    split = "test" if "test" in metrics["evaluations"] else "validation"
    return f"{split} category {accuracy_text(metrics['evaluations'][split]['category'])}"


def _promote(stack: Stack, model: Path) -> bool:
    """The shop's model against the served starter on the crawl's held-out pictures: True when it won."""
    from serving.operations.promote import new_client, promote

    environment = {**os.environ}
    os.environ.update(stack.api_settings())  # the promotion reaches the TorchServes as the API does
    try:
        verdict = promote(model / "bundle", stack.torchserves[0].store, model / "split.json", None, new_client(None),
                          say=lambda line: print(f"      {line}", flush=True))
    finally:
        os.environ.clear()
        os.environ.update(environment)
    for line in [*verdict.lines(), verdict.outcome()]:
        print(f"      {line}", flush=True)
    return verdict.promoted


def _settled(browser: ExtensionBrowser) -> Any:
    history: list[tuple[float, int]] = []

    def check() -> bool:  # badges on the page and none added for a while
        history.append((time.monotonic(), len(browser.labelled())))
        now, count = history[-1]
        steady = {c for t, c in history if t >= now - SETTLE_SECONDS}
        return count > 0 and history[0][0] <= now - SETTLE_SECONDS and steady == {count}
    return check


def _label_shop(stack: Stack, key: str, shop: Shop, out: Path) -> tuple[dict[str, list[str]], int, int]:
    """Every page a shopper browses, labelled by the extension: {picture key: [badge text, low]},
    and (the shop's pictures that are no garment, those of them that never got a badge)."""
    browser = ExtensionBrowser(Path(tempfile.mkdtemp(prefix="shoplens-chromium-")))
    labels: dict[str, list[str]] = {}
    others: dict[str, bool] = {}  # picture address -> whether it ever had a badge
    try:
        browser.configure(stack.api.url, key)
        for number, path in enumerate(shop.storefront):
            browser.driver.get(f"{shop.url}{path}")
            if isinstance(shop, TestShop):
                browser.scroll_to_the_end(len(shop.truth()))
            else:
                browser.scroll_through()
            wait_for(_settled(browser), 90, f"the badges on {path} to settle")
            labels.update({_picture_key(card): [text, low] for card, text, low in browser.labelled()})
            found = browser.driver.execute_script(f"return [...document.querySelectorAll(\"{NON_GARMENTS}\")]"
                                                  ".map(i => [i.src, Boolean(i.dataset.shoplensLabel)])")
            for src, badged in found:
                others[src] = others.get(src, False) or badged
            if number == 0:
                browser.driver.execute_script("window.scrollTo(0, 0)")
                browser.driver.save_screenshot(str(out / "shop-labelled.png"))
        return labels, len(others), sum(not badged for badged in others.values())
    finally:
        browser.quit()


def _picture_key(card: str) -> str:
    """A labelled picture's key: the test shop's card id, else the picture's file name."""
    return Path(urlsplit(card).path).name if card.startswith("http") else card


def _print_labels(labels: dict[str, list[str]], truth: dict[str, str], out: Path) -> str:
    """Prints every badge beside the shop's own label; returns the agreement line with its interval."""
    (out / "labels.json").write_text(json.dumps(labels, indent=2), encoding="utf-8")
    print(f"      {'picture':<24} {'the shop says':<22} badge (? = low confidence)")
    right = []
    for card, (text, low) in sorted(labels.items()):
        said = truth.get(card, "?")
        right.append(text.split(" · ")[0] == said.split(" · ")[0])
        print(f"      {card:<24} {said:<22} {'? ' if low == 'true' else ''}{text}")
    interval = t_interval([float(r) for r in right])
    colour = sum(text.rsplit(" · ", 1)[0] == truth.get(card) for card, (text, _) in labels.items())
    unlabelled = sorted(set(truth) - set(labels))
    return (f"category right on {sum(right)} of {len(right)} labelled pictures: {interval.estimate:.4f}, 95 % t CI "
            f"[{interval.low:.4f}, {interval.high:.4f}] (n={interval.n}); category and colour both {colour}; "
            f"no badge on {len(unlabelled)} of the shop's {len(truth)} products"
            + (f" ({', '.join(unlabelled[:8])}{', ...' if len(unlabelled) > 8 else ''})" if unlabelled else ""))


def _print_similar(api_url: str, key: str, data: Path) -> dict[str, str]:
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
    return row


def _call(url: str, key: str, body: dict | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"X-API-Key": key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _correct(api_url: str, key: str, admin_key: str, row: dict[str, str]) -> str:
    """One correction of the served answer for a crawled picture, as a shopper's "Wrong label?"
    sends it, then the review queue's item for it."""
    answer = _call(f"{api_url}/v1/classify/batch", key, {"urls": [row["source_url"]]})["results"][0]
    if "error" in answer:
        raise ShopLensError(f"the API could not answer for {row['source_url']}: {answer['error']}")
    other = next(c for c in _call(f"{api_url}/v1/vocabulary", key)["categories"] if c != answer["category"])
    sent = _call(f"{api_url}/v1/feedback", key, {
        "picture": {"url": row["source_url"]}, "page_url": row["page_url"],
        "predicted": {"category": answer["category"], "model_version": str(answer.get("version", ""))},
        "corrected": {"garment": True, "category": other}})
    queue = _call(f"{api_url}/v1/review?limit=100", admin_key)
    item = next((i for i in queue["items"] if i["picture_sha1"] == sent["picture_sha1"]), None)
    if item is None:
        raise ShopLensError("the correction sent is not in the review queue")
    return (f"correction {answer['category']} -> {other} for {row['source_url']} sent (feedback "
            f"{sent['feedback_id']}); in the review queue as item {item['id']} ({item['reason']}, "
            f"{item['reports']} report)")


def _serve(args: argparse.Namespace, out: Path, shop: Shop, record: StackRecord, running: list) -> tuple:
    key, admin_key = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    served = STARTER_BUNDLE if args.shop == "demo" else out / "model" / "bundle"
    index = build_index(out / "data" / "manifest.csv", served, out / "index", fresh=True)
    print(f"  catalogue {index.line()}", flush=True)
    hosts = [urlsplit(shop.pictures).netloc]  # the API fetches the shop's pictures by URL for the correction
    stack = Stack(served, out / "stack", [key], instances=args.instances,
                  api_environment=settings.environment({settings.INDEX_DIR: str(out / "index"),
                                                        settings.ADMIN_KEYS: [admin_key],
                                                        settings.FETCH_ALLOW_HOSTS: hosts}))
    running.append(stack)
    stack.start()
    record.write([shop.process.pid, *stack.pids()], api=stack.api.url, shop=shop.url, api_key=key)
    if args.shop == "demo":
        print(f"  serving the starter ({served}); the shop's model against it on the crawl's held-out pictures:",
              flush=True)
        if _promote(stack, out / "model"):
            rebuilt = build_index(out / "data" / "manifest.csv", out / "model" / "bundle", out / "index", fresh=True)
            print(f"  the shop's model is served now; catalogue {rebuilt.line()}", flush=True)
    return stack, key, admin_key


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
        started = _stage(1, "real photographs (clothing-small)" if args.shop == "demo" else "drawn garments")
        shop = (DemoShop if args.shop == "demo" else TestShop)(args, logs / "shop.log")
        running.append(shop.start())
        record.write([shop.process.pid])
        _done(started, f"{shop.url}{shop.storefront[0]}")

        stage, started = 2, _stage(2, args.site or shop.url)
        count = _crawl(args, shop, out / "data", logs / "crawl.log")
        _done(started, f"{count} pictures in {out / 'data'} (log {logs / 'crawl.log'})")

        stage, started = 3, _stage(3, f"{args.arch}, weights {args.weights}")
        metrics = _train(args, out / "data", out / "model")
        _done(started, f"{_accuracy_line(metrics)}; report {out / 'model' / 'report' / 'index.html'}")

        stage, started = 4, _stage(4)
        stack, key, admin_key = _serve(args, out, shop, record, running)
        _done(started, f"API {stack.api.url}, TorchServe {', '.join(t.inference_url for t in stack.torchserves)}")

        stage, started = 5, _stage(5)
        labels, others, unbadged = _label_shop(stack, key, shop, out)
        agreement = _print_labels(labels, shop.truth(), out)
        extra = f"; {unbadged} of {others} pictures that are no garment got no badge" if others else ""
        _done(started, f"{len(labels)} pictures labelled, {agreement}{extra}; screenshot {out / 'shop-labelled.png'}")

        stage, started = 6, _stage(6)
        row = _print_similar(stack.api.url, key, out / "data")
        _done(started, _correct(stack.api.url, key, admin_key, row))
    except BaseException as exc:
        for part in reversed(running):
            part.stop()
        record.path.unlink(missing_ok=True)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ShopLensError(f"stage {stage} ({STAGES[stage - 1]}) failed: {exc}") from None

    started = _stage(7)
    if args.once:
        for part in reversed(running):
            part.stop()
        record.path.unlink(missing_ok=True)
        _done(started, "stack stopped (--once)")
    else:
        _done(started, f"stack left running: shop {shop.url}{shop.storefront[0]}, API {stack.api.url} "
                       f"(X-API-Key {key}), review queue {stack.api.url}/review (admin key {admin_key}). "
                       f"Stop it with: {Path(sys.executable).parent / 'shoplens'} stop --out {args.out}")


def run_stop(args: argparse.Namespace) -> None:
    record = StackRecord(Path(args.out).resolve())
    print("stopped" if record.stop() else f"nothing running (no {record.path})")


def _defaults(args: argparse.Namespace) -> argparse.Namespace:
    """What --shop decides when the command line leaves it open."""
    demo = args.shop == "demo"
    args.categories = args.categories or (DEMO_CATEGORIES if demo else DRAWN_CATEGORIES)
    args.colours = args.colours or (DEMO_COLOURS if demo else DRAWN_COLOURS)
    args.arch = args.arch or (STARTER_TRUNK if demo else "efficientnet_lite0")
    return args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shoplens", description="ShopLens: the main job and its stack.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="spiders to labels on a shop page, end to end")
    demo.add_argument("--out", default="runs/main", help="where everything goes (default: %(default)s)")
    demo.add_argument("--once", action="store_true", help="stop the stack at the end")
    demo.add_argument("--shop", choices=("demo", "drawn"), default="demo",
                      help="demo: real photographs, the starter served; drawn: the drawn test shop (default: demo)")
    demo.add_argument("--categories", help=f"(default: {DEMO_CATEGORIES}; drawn: {DRAWN_CATEGORIES})")
    demo.add_argument("--colours", help=f"(default: {DEMO_COLOURS}; drawn: {DRAWN_COLOURS})")
    demo.add_argument("--per-label", type=int, default=6, help="drawn shop: products per label (default: 6)")
    demo.add_argument("--site", help="crawl this real site instead of the local shop (needs internet)")
    demo.add_argument("--source", default="shop", choices=("shop", "catalogue", "image_search"),
                      help="spider for --site (default: %(default)s)")
    demo.add_argument("--terms", help="file of search terms, one 'colour category' a line, for --site")
    demo.add_argument("--arch", choices=ARCHITECTURES,
                      help=f"(default: the starter's trunk, {STARTER_TRUNK}; drawn: efficientnet_lite0)")
    demo.add_argument("--weights", default="imagenet", help="imagenet (vgg16/resnet50 download it), none, or PATH")
    demo.add_argument("--epochs", type=int, default=20)
    demo.add_argument("--instances", type=int, default=1, help="TorchServe instances behind the API")
    demo.add_argument("--crawl-timeout", type=float, default=600, help="seconds (default: %(default)s)")
    demo.set_defaults(func=lambda args: run_demo(_defaults(args)))
    stop = commands.add_parser("stop", help="stop the stack a demo left running")
    stop.add_argument("--out", default="runs/main", help="the demo's --out (default: %(default)s)")
    stop.set_defaults(func=run_stop)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv, "stopped; everything it had started was stopped too")
