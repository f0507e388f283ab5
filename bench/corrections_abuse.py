"""Benchmark: the corrections loop and the review queue under abuse, on loopback only, for a bounded time.

Starts the stack (serving.operations.stack.Stack, a small model unless --bundle) with a picture server on
127.0.0.2 (bench/faults.py's) and a fresh SQLite corrections database, then for --duration seconds runs:
three honest keys correcting pictures now and then, one flooding key sending corrections as fast as it
can (repeats and new pictures, past its daily budget), one hostile client (javascript: and data: URLs,
lone surrogates, control characters, ids past SQL INTEGER, Unicode digits, doubled slashes, oversized
and malformed bodies, unknown fields), and a reviewer reading the queue. It prints
requests by status, 5xx (target 0), requests answered past their deadline (0), the most places of the
queue's first page the flooding key held while others waited to fill it (at most the store's SENDER_SHARE;
with fewer others the page is filled with its entries), and rows written for
refused requests: feedback rows in the database against the votes the API said it created (0 more).

    nice -n 5 .venv/bin/python bench/corrections_abuse.py [--duration 120] [--bundle DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from faults import PictureHosts, send, small_bundle  # bench/ is the script's folder, so on sys.path
from serve_load import pictures

from serving.operations.stack import Stack
from shoplens.corrections.store import FIRST_PAGE, SENDER_SHARE, open_store

HONEST, FLOOD, HOSTILE, ADMIN = ["bench-shopper-1", "bench-shopper-2", "bench-shopper-3"], "bench-flood", \
    "bench-hostile", "bench-admin"
FETCH_TIMEOUT, SLACK = 5.0, 2.0  # the API's fetch deadline; what a request may take beyond it
FLOOD_PICTURES = 400  # pictures 0-399 are the flooder's, 400-799 the honest keys'
DAILY_BUDGET = 150  # the flooder's budget of new votes in this run (SHOPLENS_FEEDBACK_DAILY_BUDGET)


class Tally:
    def __init__(self) -> None:
        self.lock, self.statuses, self.late, self.created = threading.Lock(), Counter(), 0, 0
        self.server_errors: list[str] = []
        self.flood_places = self.flood_places_contended = 0

    def add(self, who: str, status: int, answer: dict, elapsed: float) -> None:
        with self.lock:
            self.statuses[(who, status)] += 1
            self.late += elapsed > FETCH_TIMEOUT + SLACK
            self.created += status == 201
            if status >= 500 or status == 0:
                self.server_errors.append(f"{who} {status}: {answer.get('error', '')[:80]}")


def correction(host: str, picture: int, vocabulary: dict, rng: random.Random, **changes: object) -> dict:
    categories = vocabulary["categories"]
    return {"picture": {"url": f"http://{host}/p/{picture}.jpg"}, "page_url": f"https://shop.example/p/{picture}",
            "predicted": {"category": categories[picture % len(categories)], "model_version": vocabulary["version"]},
            "corrected": {"category": rng.choice(categories)}, **changes}


def hostile(host: str, vocabulary: dict) -> list[tuple[str, str, bytes | None]]:
    """(path, method, body) of requests that each deserve a 4xx and must write nothing."""
    good = correction(host, 1, vocabulary, random.Random(0))
    surrogate = json.dumps({**good, "page_url": "https://shop.example/SURROGATE"}).replace("SURROGATE", "\\ud800")

    def body(**changes: object) -> bytes:
        return json.dumps({**good, **changes}).encode()

    return [
        ("/v1/feedback", "POST", body(page_url="javascript:alert(1)")),
        ("/v1/feedback", "POST", body(picture={"url": "data:image/png;base64,AAAA"})),
        ("/v1/feedback", "POST", surrogate.encode()),
        ("/v1/feedback", "POST", body(predicted={**good["predicted"], "model_version": "1\u0000"})),
        ("/v1/feedback", "POST", body(corrected={"category": "cape"})),
        ("/v1/feedback", "POST", body(shopper="me")),
        ("/v1/feedback", "POST", body(page_url="https://shop.example/" + "p" * 20_000)),
        ("/v1/feedback", "POST", b"{not json"),
        ("/v1/feedback", "POST", body(picture={"sha1": "0" * 40})),
        ("/v1/review/99999999999999999999999", "POST", b'{"decision": "accept"}'),
        ("/v1/review?offset=0&limit=\u00b2", "GET", None),
        ("/v1/review?offset=\u0663", "GET", None),
        ("/v1//review", "GET", None),
    ]


class Run:
    def __init__(self, stack: Stack, host: str, vocabulary: dict, duration: float) -> None:
        self.stack, self.host, self.vocabulary = stack, host, vocabulary
        self.until, self.tally = time.monotonic() + duration, Tally()

    def post(self, who: str, key: str, path: str, body: bytes | None, method: str = "POST") -> dict:
        headers = {"X-API-Key": key, "Content-Type": "application/json"}
        url = self.stack.api.url + path.replace("\u00b2", "%C2%B2").replace("\u0663", "%D9%A3")
        status, answer, elapsed = send(url, body if method == "POST" else None, headers, FETCH_TIMEOUT)
        self.tally.add(who, status, answer, elapsed)
        return answer

    def honest(self, number: int) -> None:
        rng = random.Random(number)
        while time.monotonic() < self.until:
            body = correction(self.host, rng.randrange(FLOOD_PICTURES, 2 * FLOOD_PICTURES), self.vocabulary, rng)
            self.post("honest", HONEST[number], "/v1/feedback", json.dumps(body).encode())
            time.sleep(rng.uniform(0.5, 1.5))

    def flood(self) -> None:
        rng = random.Random(99)
        while time.monotonic() < self.until:  # half repeats of a few pictures, half new ones
            picture = rng.randrange(0, 5) if rng.random() < 0.5 else rng.randrange(5, FLOOD_PICTURES)
            body = correction(self.host, picture, self.vocabulary, rng)
            self.post("flood", FLOOD, "/v1/feedback", json.dumps(body).encode())

    def hostile(self) -> None:
        requests = hostile(self.host, self.vocabulary)
        while time.monotonic() < self.until:
            for path, method, body in requests:
                self.post("hostile", ADMIN if "review" in path else HOSTILE, path, body, method)

    def reviewer(self) -> None:
        while time.monotonic() < self.until:
            page = self.post("reviewer", ADMIN, "/v1/review?limit=100", None, "GET").get("items", [])
            flooded = [self.flooded(item) for item in page]
            held, others = sum(flooded[:FIRST_PAGE]), flooded.count(False)
            self.tally.flood_places = held  # the last look
            if others >= FIRST_PAGE - SENDER_SHARE:  # enough other pictures wait to fill the rest of the page
                self.tally.flood_places_contended = max(self.tally.flood_places_contended, held)
            time.sleep(1)

    @staticmethod
    def flooded(item: dict) -> bool:
        url = item.get("picture_url") or ""
        return "/p/" in url and int(url.rsplit("/", 1)[1].split(".")[0]) < FLOOD_PICTURES


def report(tally: Tally, rows: dict[str, int], duration: float) -> None:
    print(f"\n{sum(tally.statuses.values())} requests in {duration:.0f} s:")
    for (who, status), count in sorted(tally.statuses.items()):
        print(f"  {who:9s} {status}: {count}")
    print(f"5xx or no answer: {len(tally.server_errors)} (target 0) {tally.server_errors[:3]}")
    print(f"answered past their deadline ({FETCH_TIMEOUT + SLACK:.0f} s): {tally.late} (target 0)")
    print(f"places of the queue's first {FIRST_PAGE} held by the flooding key: at most "
          f"{tally.flood_places_contended} while {FIRST_PAGE - SENDER_SHARE} or more other pictures waited (target <= "
          f"{SENDER_SHARE}), {tally.flood_places} at the end")
    print(f"feedback rows {rows['feedback']} for {tally.created} votes the API created: "
          f"{rows['feedback'] - tally.created} rows written for refused requests (target 0)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120, help="seconds of load (default: %(default)s)")
    parser.add_argument("--bundle", type=Path, help="model bundle (default: a small model trained in seconds)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-corrections"))
    args = parser.parse_args()
    bundle = args.bundle or small_bundle(args.out)
    hosts = PictureHosts(pictures(2 * FLOOD_PICTURES, 70_000))  # distinct bytes: no two keys share a picture
    database = args.out / f"corrections-{int(time.time())}.sqlite3"
    environment = {"SHOPLENS_FETCH_ALLOW_HOSTS": hosts.good, "SHOPLENS_ADMIN_KEYS": ADMIN,
                   "SHOPLENS_DATABASE_URL": f"sqlite:///{database.resolve()}",
                   "SHOPLENS_PICTURE_STORE": str((args.out / "pictures").resolve()),
                   "SHOPLENS_FEEDBACK_DAILY_BUDGET": str(DAILY_BUDGET), "SHOPLENS_RATE_LIMIT": "1000000"}
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with Stack(bundle, args.out / "stack", [*HONEST, FLOOD, HOSTILE, ADMIN],
                   api_environment=environment).start() as stack:
            status, vocabulary, _ = send(stack.api.url + "/v1/vocabulary", None, {"X-API-Key": ADMIN}, 5)
            if status != 200:
                sys.exit(f"no vocabulary: {status} {vocabulary}")
            run = Run(stack, hosts.good, vocabulary, args.duration)
            threads = [threading.Thread(target=run.honest, args=(n,)) for n in range(len(HONEST))]
            threads += [threading.Thread(target=job) for job in (run.flood, run.hostile, run.reviewer)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        hosts.close()
    store = open_store(f"sqlite:///{database.resolve()}", args.out / "pictures")
    try:
        report(run.tally, store.row_counts(), args.duration)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
