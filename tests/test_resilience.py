"""The serving stack under faults and hostile peers: the address guard's IPv6 forms, whole-fetch
deadlines against a drip-feeding picture server (on a second loopback address), TorchServe keys
that expire every minute, a paused TorchServe, and `shoplens-serve up` restarting dead parts.
Real TorchServe, redis-server and gunicorn throughout."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

from serving.api import create_app
from serving.api.config import Settings
from serving.api.fetch import FetchPolicy, FetchRefused, fetch_picture, public_address
from serving.operations.stack import ApiServer, api_environment
from serving.operations.torchserve import TorchServe
from shoplens.imaging import jpeg_bytes
from shoplens.processes import free_port, wait_for

API_KEY = "k1"


@pytest.mark.parametrize("address", [
    "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254",  # IPv4-mapped
    "2002:7f00:1::", "2002:a00:1::1", "2002:c0a8:101::", "2002:a9fe:a9fe::",  # 6to4 around private IPv4s
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo (client 192.0.2.45, a documentation address)
    "2001:0:7f00:1:0:f227:80ff:fffe",  # Teredo whose server is 127.0.0.1
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::c0a8:1",  # NAT64 well-known prefix
    "64:ff9b:1::808:808", "64:ff9b:1:ffff::1",  # NAT64 local-use prefix: a private translator
    "::127.0.0.1", "::ffff:0:7f00:1",  # IPv4-compatible, IPv4-translated
    "::1", "fe80::1", "fc00::1", "ff02::1", "::", "10.0.0.1", "100.64.0.1", "127.0.0.2", "169.254.169.254",
])
def test_address_guard_refuses_every_form_of_a_non_public_address(address):
    assert not public_address(address)


@pytest.mark.parametrize("address", [
    "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
])
def test_address_guard_lets_public_addresses_through(address):
    assert public_address(address)


@pytest.fixture()
def drip_host(drawn):
    """A hostile picture server on 127.0.0.2: /drip answers 200 then sends its body a byte a
    second, /drip-headers sends its header lines a byte a second, /redirect?to=PATH, /pic.jpg."""
    picture = jpeg_bytes(drawn("shirt", "blue", seed=61))

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def drip(self, data: bytes) -> None:
            try:
                for index in range(len(data)):
                    self.wfile.write(data[index:index + 1])
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass  # the client gave up: what a deadline is for

        def do_GET(self):
            if self.path.startswith("/redirect?to="):
                self.send_response(302)
                self.send_header("Location", self.path.split("=", 1)[1])
                self.end_headers()
            elif self.path == "/pic.jpg":
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(picture)))
                self.end_headers()
                self.wfile.write(picture)
            elif self.path == "/drip":
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(picture)))
                self.end_headers()
                self.drip(picture)
            else:  # /drip-headers
                self.drip(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 5000 + b"\r\n\r\n")

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.2:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/drip", "/drip-headers", "/redirect?to=/redirect%3Fto%3D/drip"])
def test_one_deadline_covers_connect_redirects_and_body(drip_host, path):
    policy = FetchPolicy(timeout=1.5, allow_hosts=[drip_host])
    assert fetch_picture(f"http://{drip_host}/pic.jpg", policy)[:2] == b"\xff\xd8"  # the host itself is fine
    started = time.monotonic()
    with pytest.raises(FetchRefused, match=r"did not arrive within 1.5 s"):
        fetch_picture(f"http://{drip_host}{path}", policy)
    assert time.monotonic() - started < 2.0


def post(url: str, body: bytes, content_type: str, timeout: float = 15) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type, "X-API-Key": API_KEY})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def get(url: str, timeout: float = 15) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"X-API-Key": API_KEY}),
                                    timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_drip_feeding_urls_leave_room_for_uploads(torchserve, redis_server, drip_host, drawn, corrections_settings,
                                                  tmp_path):
    """16 URLs dripping a byte a second, sent again and again, while pictures are uploaded
    through real gunicorn (2 workers x 4 threads): every upload is answered within 1 s."""
    server, _ = torchserve
    redis.Redis.from_url(redis_server).flushdb()
    environment = {**api_environment([server], redis_server, [API_KEY]), "SHOPLENS_ACCESS_LOG": "/dev/null",
                   "SHOPLENS_FETCH_ALLOW_HOSTS": drip_host, **corrections_settings(tmp_path)}
    outcomes: list[tuple[int, str]] = []
    stop = threading.Event()
    with ApiServer(environment).start() as api:
        assert post(f"{api.url}/v1/classify", jpeg_bytes(drawn(seed=699)), "image/jpeg")[0] == 200  # warm

        def dripper() -> None:
            while not stop.is_set():
                status, body = post(f"{api.url}/v1/classify", json.dumps({"url": f"http://{drip_host}/drip"}).encode(),
                                    "application/json")
                outcomes.append((status, body.get("error", "")))
                stop.wait(0.2 if status == 429 else 0)

        drippers = [threading.Thread(target=dripper) for _ in range(16)]
        for thread in drippers:
            thread.start()
        try:
            time.sleep(1.5)  # every dripper has a request in flight
            timings = []
            for seed in range(6):
                started = time.monotonic()
                status, answer = post(f"{api.url}/v1/classify", jpeg_bytes(drawn(seed=700 + seed)), "image/jpeg")
                timings.append(time.monotonic() - started)
                assert status == 200 and answer["cached"] is False, answer
                time.sleep(1)
        finally:
            stop.set()
            for thread in drippers:
                thread.join(timeout=15)
    assert max(timings) < 1.0, timings
    statuses = {status for status, _ in outcomes}
    assert statuses <= {400, 429}, outcomes  # refused, never a 5xx nor a picture
    assert any(status == 429 and "URL fetches in flight" in reason for status, reason in outcomes)
    assert any(status == 400 and "did not arrive within 5 s" in reason for status, reason in outcomes)


@pytest.fixture(scope="module")
def short_key_torchserve(torchserve, tmp_path_factory):
    """A TorchServe of this module's own, serving the shared model, whose keys expire after a minute."""
    shared, _ = torchserve
    own = TorchServe(shared.store, tmp_path_factory.mktemp("short-keys"), token_expiration_min=1).start()
    try:
        own.register("shoplens.mar", batch_size=1)
        yield own
    finally:
        own.stop()


def inference_key(server: TorchServe) -> str:
    return json.loads(server.key_file.read_text())["inference"]["key"]


@pytest.mark.timeout(480)
def test_keys_that_expire_every_minute_are_renewed_for_three_minutes(short_key_torchserve, redis_server, drawn,
                                                                     corrections_settings, tmp_path):
    """Through real gunicorn (two worker processes sharing the key file): classify, /readyz and
    /v1/models answer 200 throughout three minutes while TorchServe's keys expire every minute."""
    server = short_key_torchserve
    redis.Redis.from_url(redis_server).flushdb()
    environment = {**api_environment([server], redis_server, [API_KEY]), "SHOPLENS_ACCESS_LOG": "/dev/null",
                   **corrections_settings(tmp_path)}
    failures, keys = [], {inference_key(server)}
    with ApiServer(environment).start() as api:
        started, seed = time.monotonic(), 0
        while time.monotonic() - started < 180:
            seed += 1
            status, answer = post(f"{api.url}/v1/classify", jpeg_bytes(drawn(seed=800 + seed)), "image/jpeg")
            if status != 200 or answer["cached"]:
                failures.append((round(time.monotonic() - started), status, answer))
            if seed % 5 == 0:
                failures += [(round(time.monotonic() - started), path, code)
                             for path in ("/readyz", "/v1/models") if (code := get(api.url + path)) != 200]
            keys.add(inference_key(server))
            time.sleep(1.5)
    assert not failures, failures
    assert len(keys) >= 4, keys  # a minute's key, renewed at least three times


def test_paused_model_server_is_503_within_the_inference_timeout(short_key_torchserve, redis_server, drawn):
    server = short_key_torchserve
    redis.Redis.from_url(redis_server).flushdb()  # a cached answer would be served while TorchServe is out
    settings = Settings(torchserve_urls=[server.inference_url], management_urls=[server.management_url],
                        key_files=[str(server.key_file)], redis_url=redis_server, api_keys=[API_KEY],
                        inference_timeout=2.0)
    client = create_app(settings).test_client()
    headers = {"X-API-Key": API_KEY}
    assert client.post("/v1/classify", data=jpeg_bytes(drawn(seed=900)), content_type="image/jpeg",
                       headers=headers).status_code == 200
    group = os.getpgid(server.process.pid)
    os.killpg(group, signal.SIGSTOP)
    try:
        for seed, wait in ((901, 0.0), (902, 1.1)):  # the default version fresh, then looked up again
            time.sleep(wait)
            started = time.monotonic()
            paused = client.post("/v1/classify", data=jpeg_bytes(drawn(seed=seed)), content_type="image/jpeg",
                                 headers=headers)
            assert paused.status_code == 503 and "unavailable" in paused.json["error"], paused.json
            assert time.monotonic() - started < settings.inference_timeout + 0.5
        started = time.monotonic()
        assert client.get("/readyz").status_code == 503
        assert time.monotonic() - started < settings.inference_timeout + 0.5
    finally:
        os.killpg(group, signal.SIGCONT)
    again = wait_for(lambda: client.post("/v1/classify", data=jpeg_bytes(drawn(seed=903)), content_type="image/jpeg",
                                         headers=headers).status_code == 200, 30, "TorchServe to answer again")
    assert again


def cache_state(api: str) -> str:
    with urllib.request.urlopen(f"{api}/healthz", timeout=5) as response:
        return json.loads(response.read())["cache"]


def children(pid: int) -> dict[int, str]:
    """The child processes of `pid`, with their command lines."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return found


@pytest.mark.timeout(600)
def test_serve_up_restarts_dead_parts_and_says_so(torchserve, tmp_path, drawn, root):
    """`shoplens-serve up`: TorchServe's, redis-server's and gunicorn's process groups killed in
    turn, and each time the stack answers 200 again by itself, saying on stdout what it restarted."""
    server, _ = torchserve
    port = free_port()
    command = [sys.executable, "-m", "serving", "up", str(server.store.parent / "run" / "bundle"),
               "--workdir", str(tmp_path / "serve"), "--port", str(port), "--api-key", API_KEY]
    up = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(up.stdout.readline, "")), daemon=True).start()
    api = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: any(line.startswith("API ") for line in lines), 240, f"the stack to start: {lines}", up)
        assert any(f"{api}/review (admin key: " in line for line in lines), lines
        seed = iter(range(1000, 2000))
        assert post(f"{api}/v1/classify", jpeg_bytes(drawn(seed=next(seed))), "image/jpeg")[0] == 200
        for part, answered in (("torchserve", lambda: post(f"{api}/v1/classify", jpeg_bytes(drawn(seed=next(seed))),
                                                           "image/jpeg", timeout=10)[0] == 200),
                               ("redis-server", lambda: cache_state(api) == "ok"),
                               ("gunicorn", lambda: get(f"{api}/readyz", timeout=5) == 200)):
            (pid,) = [child for child, line in children(up.pid).items() if part in line]
            said = len(lines)
            killed = time.monotonic()
            os.killpg(pid, signal.SIGKILL)
            name = "the ShopLens API" if part == "gunicorn" else part
            wait_for(lambda name=name, said=said: any(name in line and "started again" in line
                                                      for line in lines[said:]), 150,
                     f"the stack to say it restarted {part}: {lines}", up)
            wait_for(answered, 150, f"the stack to answer again after {part} was killed: {lines}", up)
            assert time.monotonic() - killed < 150
        assert any("model shoplens.mar registered again" in line for line in lines), lines
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
