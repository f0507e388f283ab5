"""Benchmark: the serving stack under faults and abuse, on loopback only, for a bounded time.

Starts the stack (serving.operations.stack.Stack: redis-server, TorchServe with keys that expire every
minute, the gunicorn-run API) under its own supervisor, a picture server on 127.0.0.2 and a
drip-feeding one (a byte a second) on 127.0.0.3. Then, for --duration seconds, 4 clients send
a mix of uploads, URLs and batches, one request in 20 hostile (malformed bodies, internal
addresses, odd URLs, deep JSON, bombs, unsupported formats, no key), while the run kills
TorchServe twice and Redis once, pauses TorchServe for 10 s, and keeps 16 drip-feeding URLs in
flight for a while (under another API key). It prints requests sent, 2xx, 4xx and 503 with
their reasons, other 5xx, requests past their deadline, and the 2xx rate of ordinary requests
outside the fault windows (a kill or pause until the stack answers again, plus 2 s).
Without --bundle it first trains a small model (seconds): the run is about the stack, not the
model's speed.

    nice -n 5 .venv/bin/python bench/faults.py [--duration 600] [--bundle DIR]
"""

from __future__ import annotations

import argparse
import http.server
import io
import json
import os
import random
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from serve_load import pictures  # bench/ is the script's folder, so on sys.path

from serving.operations.stack import Stack
from shoplens.processes import wait_for
from training.cli import main as training_main

KEY, HOSTILE_KEY = "bench-key", "bench-hostile-key"
INFERENCE_TIMEOUT, FETCH_TIMEOUT = 5.0, 5.0  # the API's defaults
SLACK = 2.0  # seconds a request may take beyond the deadlines it is made of


def small_bundle(out: Path) -> Path:
    """A from-scratch simple_cnn on 32-pixel drawn pictures: seconds to train, milliseconds per
    answer, so the run measures how the stack takes faults, not how fast a model is."""
    bundle = out / "small" / "bundle"
    arguments = ["demo", "--out", str(out / "small"), "--arch", "simple_cnn", "--weights", "none", "--image-size",
                 "32", "--epochs", "2", "--per-label", "8", "--workers", "0", "--feature-cache", ""]
    if not (bundle / "bundle.json").exists() and training_main(arguments) != 0:
        sys.exit("training the small model failed")
    return bundle


class PictureHosts:
    """127.0.0.2 serves /p/N.jpg (picture N of the pool); 127.0.0.3 drips /drip a byte a second."""

    def __init__(self, pool: list[bytes]) -> None:
        self.servers = [self._serve("127.0.0.2", pool), self._serve("127.0.0.3", pool)]
        self.good, self.drip = (f"{s.server_address[0]}:{s.server_address[1]}" for s in self.servers)

    @staticmethod
    def _serve(address: str, pool: list[bytes]) -> http.server.ThreadingHTTPServer:
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                match = re.fullmatch(r"/p/(\d+)\.jpg", self.path)
                body = pool[int(match.group(1)) % len(pool)] if match else pool[0]
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if self.path == "/drip":
                        for index in range(len(body)):
                            self.wfile.write(body[index:index + 1])
                            self.wfile.flush()
                            time.sleep(1)
                    else:
                        self.wfile.write(body)
                except OSError:
                    pass  # the API gave up at its deadline

        server = http.server.ThreadingHTTPServer((address, 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@dataclass
class Outcome:
    started: float
    elapsed: float
    status: int
    reason: str
    deadline: float
    hostile: bool
    name: str
    item_errors: list[str] = field(default_factory=list)


def send(url: str, body: bytes, headers: dict[str, str], deadline: float) -> tuple[int, dict, float]:
    """(status, JSON body, seconds); status 0 when no answer came within deadline + 30 s."""
    started = time.monotonic()
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=deadline + 30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except OSError as exc:
        return 0, {"error": f"no answer: {exc}"}, time.monotonic() - started
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = {"error": f"not JSON: {raw[:60]!r}"}
    return status, answer if isinstance(answer, dict) else {}, time.monotonic() - started


def multipart(field_name: str, files: list[bytes]) -> tuple[bytes, str]:
    boundary = "shoplens-bench-boundary"
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field_name}\"; filename=\"{i}.jpg\"\r\n"
             f"Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n" for i, data in enumerate(files)]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def hostile_requests(pool: list[bytes], internal: str) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(name, path, body, headers): inputs a hostile or broken client sends; each deserves a 4xx."""
    def raw(data: bytes, kind: str = "image/jpeg") -> dict[str, str]:
        return {"Content-Type": kind, "X-API-Key": KEY}

    def url(value: str) -> bytes:
        return json.dumps({"url": value}).encode()

    bomb, tiff = io.BytesIO(), io.BytesIO()
    Image.new("1", (9000, 9000)).save(bomb, "PNG")
    Image.open(io.BytesIO(pool[0])).save(tiff, "TIFF")
    deep = b"[" * 10_000 + b"]" * 10_000
    return [
        ("text as a picture", "/v1/classify", b"just text", raw(b"")),
        ("truncated JPEG", "/v1/classify", pool[1][:300], raw(b"")),
        ("decompression bomb", "/v1/classify", bomb.getvalue(), raw(b"", "image/png")),
        ("TIFF", "/v1/classify", tiff.getvalue(), raw(b"", "image/tiff")),
        ("no API key", "/v1/classify", pool[2], {"Content-Type": "image/jpeg"}),
        ("wrong content type", "/v1/classify", b"hello", raw(b"", "text/plain")),
        ("internal address", "/v1/classify", url(f"http://{internal}/"), raw(b"", "application/json")),
        ("metadata address", "/v1/classify", url("http://169.254.169.254/latest/meta-data/"),
         raw(b"", "application/json")),
        ("6to4 loopback", "/v1/classify", url("http://[2002:7f00:1::]/x.jpg"), raw(b"", "application/json")),
        ("port :+80", "/v1/classify", url("http://example.com:+80/x.jpg"), raw(b"", "application/json")),
        ("non-ASCII path", "/v1/classify", url("http://127.0.0.2/ä/ö.jpg"), raw(b"", "application/json")),
        ("2 M-character host", "/v1/classify", url("http://" + "a" * 2_000_000 + ".com/x.jpg"),
         raw(b"", "application/json")),
        ("lone surrogate", "/v1/classify", b'{"url": "http://example.com/\\ud800.jpg"}', raw(b"", "application/json")),
        ("JSON 10,000 deep", "/v1/classify", deep, raw(b"", "application/json")),
        ("bad URL in a batch", "/v1/classify/batch",
         json.dumps({"urls": ["http://example.com:+80/x.jpg", "ftp://example.com/x.jpg"]}).encode(),
         raw(b"", "application/json")),
        ("batch of 33", "/v1/classify/batch", json.dumps({"urls": ["http://127.0.0.2/x.jpg"] * 33}).encode(),
         raw(b"", "application/json")),
    ]


class Run:
    def __init__(self, stack: Stack, hosts: PictureHosts, pool: list[bytes], duration: float) -> None:
        self.stack, self.hosts, self.pool, self.duration = stack, hosts, pool, duration
        self.t0 = time.monotonic()
        self.outcomes: list[Outcome] = []
        self.drips: Counter[str] = Counter()
        self.windows: list[tuple[float, float, str]] = []
        self.events: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.probes = 0
        self.hostile = hostile_requests(pool, stack.redis.url.split("//")[1].split("/")[0])

    def now(self) -> float:
        return time.monotonic() - self.t0

    def say(self, line: str) -> None:
        with self.lock:
            self.events.append(f"{self.now():6.1f} s  {line}")
        print(f"  {self.now():6.1f} s  {line}", flush=True)

    def ordinary(self, rng: random.Random, fresh: int) -> tuple[str, bytes, dict[str, str], float]:
        """An upload (half of them pictures never sent before), a URL or a batch of the pool's
        pictures (cache hits once seen)."""
        index = rng.randrange(len(self.pool))
        kind = rng.random()
        if kind < 0.5:
            picture = pictures(1, fresh)[0] if kind < 0.25 else self.pool[index]
            return "/v1/classify", picture, {"Content-Type": "image/jpeg"}, INFERENCE_TIMEOUT + SLACK
        if kind < 0.75:
            body = json.dumps({"url": f"http://{self.hosts.good}/p/{index}.jpg"}).encode()
            return "/v1/classify", body, {"Content-Type": "application/json"}, FETCH_TIMEOUT + INFERENCE_TIMEOUT + SLACK
        if kind < 0.9:
            files = [self.pool[(index + i) % len(self.pool)] for i in range(3)]
            body, content_type = multipart("images", files)
            return "/v1/classify/batch", body, {"Content-Type": content_type}, INFERENCE_TIMEOUT + SLACK
        urls = [f"http://{self.hosts.good}/p/{(index + i) % len(self.pool)}.jpg" for i in range(3)]
        return ("/v1/classify/batch", json.dumps({"urls": urls}).encode(), {"Content-Type": "application/json"},
                3 * FETCH_TIMEOUT + INFERENCE_TIMEOUT + SLACK)

    def client(self, number: int) -> None:
        rng = random.Random(number)
        count = 0
        while not self.stop.is_set():
            count += 1
            hostile = count % 20 == number % 20  # one in 20, at a different turn per client
            if hostile:
                name, path, body, headers = self.hostile[rng.randrange(len(self.hostile))]
                deadline = FETCH_TIMEOUT + INFERENCE_TIMEOUT + SLACK
            else:
                path, body, headers, deadline = self.ordinary(rng, 100_000 + 1_000_000 * number + count)
                headers = {**headers, "X-API-Key": KEY}
                name = f"{path} {headers['Content-Type'].split(';')[0]}"
            started = self.now()
            status, answer, elapsed = send(self.stack.api.url + path, body, headers, deadline)
            items = [item.get("error", "") for item in answer.get("results", []) if "error" in item]
            with self.lock:
                self.outcomes.append(Outcome(started, elapsed, status, str(answer.get("error", "")), deadline,
                                             hostile, name, items))
            self.stop.wait(0.05)

    def dripper(self, until: float) -> None:
        body = json.dumps({"url": f"http://{self.hosts.drip}/drip"}).encode()
        while not self.stop.is_set() and self.now() < until:
            status, answer, _ = send(self.stack.api.url + "/v1/classify", body,
                                     {"Content-Type": "application/json", "X-API-Key": HOSTILE_KEY}, 40)
            with self.lock:
                self.drips[f"{status} {normalised(str(answer.get('error', '')))}"] += 1
            self.stop.wait(0.5 if status == 429 else 0)

    def classifies(self) -> bool:
        """A picture never sent before is classified (a cached answer would prove nothing)."""
        self.probes += 1
        status, _, _ = send(self.stack.api.url + "/v1/classify", pictures(1, 900_000 + self.probes)[0],
                            {"Content-Type": "image/jpeg", "X-API-Key": KEY}, 5)
        return status == 200

    def caches(self) -> bool:
        with urllib.request.urlopen(self.stack.api.url + "/healthz", timeout=5) as response:
            return json.loads(response.read())["cache"] == "ok"

    def fault(self, name: str, action: Callable[[], None], recovered: Callable[[], bool]) -> None:
        """Runs `action` and marks the window until `recovered()` (plus 2 s)."""
        begun = self.now()
        self.say(name)
        action()
        wait_for(recovered, 300, f"the stack to recover from: {name}")
        self.say(f"recovered from: {name} ({self.now() - begun:.1f} s)")
        with self.lock:
            self.windows.append((begun, self.now() + 2.0, name))

    def kill(self, part: object) -> None:
        os.killpg(part.process.pid, signal.SIGKILL)

    def pause_torchserve(self) -> None:
        group = self.stack.torchserves[0].process.pid
        os.killpg(group, signal.SIGSTOP)
        time.sleep(10)
        os.killpg(group, signal.SIGCONT)

    def schedule(self) -> None:
        """The faults, at fixed fractions of the run, so a shorter --duration keeps them all."""
        torchserve = self.stack.torchserves[0]
        plan = [(0.15, "kill TorchServe (SIGKILL to its process group)", lambda: self.kill(torchserve),
                 self.classifies),
                (0.35, "kill redis-server", lambda: self.kill(self.stack.redis), self.caches),
                (0.50, "pause TorchServe for 10 s (SIGSTOP, then SIGCONT)", self.pause_torchserve, self.classifies),
                (0.65, "kill TorchServe again", lambda: self.kill(torchserve), self.classifies)]
        for fraction, name, action, recovered in plan:
            if self.stop.wait(max(0.0, fraction * self.duration - self.now())):
                return
            self.fault(name, action, recovered)

    def drip_phase(self) -> None:
        """16 drip-feeding URLs in flight from 75 % to 90 % of the run."""
        if self.stop.wait(max(0.0, 0.75 * self.duration - self.now())):
            return
        until = 0.9 * self.duration
        self.say(f"16 drip-feeding URLs in flight until {until:.0f} s (another API key)")
        drippers = [threading.Thread(target=self.dripper, args=(until,)) for _ in range(16)]
        for thread in drippers:
            thread.start()
        for thread in drippers:
            thread.join()
        self.say("drip-feeding URLs stopped")

    def in_window(self, outcome: Outcome) -> bool:
        """Whether the request was in flight during a fault window."""
        return any(outcome.started <= end and outcome.started + outcome.elapsed >= start
                   for start, end, _ in self.windows)


def normalised(reason: str) -> str:
    """A reason with numbers and addresses folded, so equal causes count together."""
    reason = re.sub(r"https?://\S+|'[^']*'|\"[^\"]*\"", "…", reason)
    return re.sub(r"\d+(\.\d+)?", "N", reason)[:110]


def report(run: Run, duration: float) -> None:
    outcomes = run.outcomes
    by_class = Counter()
    reasons: dict[str, Counter[str]] = {"4xx": Counter(), "503": Counter(), "other": Counter()}
    for outcome in outcomes:
        if 200 <= outcome.status < 300:
            by_class["2xx"] += 1
        elif 400 <= outcome.status < 500:
            by_class["4xx"] += 1
            reasons["4xx"][f"{outcome.status} {normalised(outcome.reason)}"] += 1
        elif outcome.status == 503:
            by_class["503"] += 1
            reasons["503"][normalised(outcome.reason)] += 1
        else:
            by_class["other"] += 1
            reasons["other"][f"{outcome.status} {normalised(outcome.reason)} ({outcome.name})"] += 1
    late = [o for o in outcomes if o.elapsed > o.deadline]
    calm = [o for o in outcomes if not o.hostile and not run.in_window(o)]
    calm_ok = [o for o in calm if 200 <= o.status < 300 and not o.item_errors]
    hostile = [o for o in outcomes if o.hostile]
    print(f"\nfault and abuse run: {duration:.0f} s on loopback, 4 clients, one request in 20 hostile; "
          f"TorchServe keys expire every minute; model {run.stack.bundle}")
    print("faults (time since start):")
    for line in run.events:
        print(f"  {line}")
    print(f"requests sent: {len(outcomes)} ({len(hostile)} hostile)")
    print(f"2xx: {by_class['2xx']}")
    print(f"4xx: {by_class['4xx']} (hostile requests answered 4xx: "
          f"{sum(1 for o in hostile if 400 <= o.status < 500)} of {len(hostile)})")
    for reason, count in reasons["4xx"].most_common():
        print(f"  {count:6d}  {reason}")
    print(f"503: {by_class['503']}")
    for reason, count in reasons["503"].most_common():
        print(f"  {count:6d}  {reason}")
    print(f"other 5xx (or no answer): {by_class['other']}")
    for reason, count in reasons["other"].most_common():
        print(f"  {count:6d}  {reason}")
    item_errors = Counter(normalised(e) for o in outcomes if not o.hostile for e in o.item_errors)
    print(f"ordinary batch items answered with an error: {sum(item_errors.values())}")
    for reason, count in item_errors.most_common():
        print(f"  {count:6d}  {reason}")
    print(f"requests past their deadline: {len(late)}" + (
        f" (worst {max(o.elapsed - o.deadline for o in late):.1f} s over)" if late else ""))
    for outcome in sorted(late, key=lambda o: o.started):
        print(f"  at {outcome.started:6.1f} s: {outcome.elapsed:.1f} s for a {outcome.deadline:.0f} s deadline, "
              f"{outcome.status} {normalised(outcome.reason)} ({outcome.name})")
    rate = len(calm_ok) / len(calm) if calm else float("nan")
    print(f"2xx rate of ordinary requests outside fault windows: {len(calm_ok)}/{len(calm)} = {rate:.2%} "
          f"(windows: {sum(end - start for start, end, _ in run.windows):.0f} s of {duration:.0f} s)")
    answered = {id(o) for o in calm_ok}
    missed = Counter(f"{o.status} {normalised(o.reason)} ({o.name})" for o in calm if id(o) not in answered)
    for reason, count in missed.most_common():
        print(f"  {count:6d}  {reason}")
    print(f"drip-feeding URL requests: {sum(run.drips.values())}")
    for reason, count in run.drips.most_common():
        print(f"  {count:6d}  {reason}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (default: %(default)s)")
    parser.add_argument("--bundle", type=Path, help="model bundle (default: train the demo model)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-faults"))
    args = parser.parse_args()
    bundle = args.bundle or small_bundle(args.out)
    pool = pictures(400, 50_000)
    hosts = PictureHosts(pool)
    environment = {"SHOPLENS_FETCH_ALLOW_HOSTS": f"{hosts.good},{hosts.drip}", "SHOPLENS_RATE_LIMIT": "1000000"}
    try:
        with Stack(bundle, args.out / "stack", [KEY, HOSTILE_KEY], api_environment=environment,
                   token_expiration_min=1).start() as stack:
            run = Run(stack, hosts, pool, args.duration)
            supervisor = threading.Thread(target=stack.supervise, args=(run.say, run.stop))
            clients = [threading.Thread(target=run.client, args=(number,)) for number in range(4)]
            faults = [threading.Thread(target=run.schedule), threading.Thread(target=run.drip_phase)]
            for thread in (supervisor, *clients, *faults):
                thread.start()
            run.stop.wait(args.duration)
            run.stop.set()
            for thread in (*clients, *faults, supervisor):
                thread.join()
            keys = stack.torchserves[0].key_file
            run.say(f"key file {keys.name}: inference key valid until "
                    f"{json.loads(keys.read_text())['inference']['expiration time']}")
    finally:
        hosts.close()
    report(run, args.duration)
    return 0


if __name__ == "__main__":
    sys.exit(main())
