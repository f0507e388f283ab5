"""Image search engines on loopback, answering as the real ones do: Bing's results page
(``a.iusc`` links with JSON in ``m``, paged by ``first``) and DuckDuckGo's token page plus
``i.js`` JSON (``vqd`` required, ``next`` for the following page). Each gives at most
CAP results per query and date filter, then repeats its last page, as real engines do."""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlsplit

from shoplens.vocab import parse_term
from tests.sites import Log, Server, cdn_picture, running

CAP, PAGE = 70, 35
VQD = "4-211138923578349618032417384526347881256"


def _key(query: str, window: str, index: int) -> str:
    category, colour = parse_term(query)
    seed = int(hashlib.sha1(f"{query}|{window}|{index}".encode()).hexdigest()[:8], 16)
    return f"{category}-{colour or 'grey'}-{seed}"


def _indices(offset: int) -> range:
    start = min(offset, CAP - PAGE)  # past the cap: the last page again
    return range(start, start + PAGE)


class EngineHandler(BaseHTTPRequestHandler):
    log: Log

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, body: bytes, kind: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # http.server's name
        self.log.append(("engine", self.path))
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/pic/"):
            return self._send(cdn_picture(url.path.rsplit("/", 1)[-1]) or b"", "image/jpeg")
        if url.path == "/images/async":
            return self._bing(query)
        if url.path == "/":
            page = f"<html><script>nrj('/d.js?q=x&vqd={VQD}&kl=wt-wt');vqd=\"{VQD}\";</script></html>"
            return self._send(page.encode(), "text/html")
        if url.path == "/i.js":
            return self._duckduckgo(query)
        self._send(b"not found", "text/plain", 404)

    def _bing(self, query: dict[str, str]) -> None:
        links = []
        for index in _indices(int(query.get("first", "0"))):
            key = _key(query["q"], query.get("filters", ""), index)
            meta = {"murl": f"/pic/{key}.jpg", "purl": f"https://example.com/page/{key}", "t": query["q"]}
            links.append(f"<a class=\"iusc\" m=\"{html.escape(json.dumps(meta))}\" href=\"/images/search\">"
                         f"<img class=\"mimg\" src=\"/th?id={key}\"></a>")
        self._send(f"<html><body><div class=\"dgControl\">{''.join(links)}</div></body></html>".encode(),
                   "text/html; charset=utf-8")

    def _duckduckgo(self, query: dict[str, str]) -> None:
        if query.get("vqd") != VQD:
            return self._send(b"If this error persists, please let us know: ops@duckduckgo.com", "text/plain", 403)
        offset = int(query.get("s", "0"))
        window = query.get("f", "").split(",")[0]
        results = [{"image": f"/pic/{_key(query['q'], window, i)}.jpg", "url": "https://example.com/p",
                    "title": query["q"], "width": 120, "height": 160} for i in _indices(offset)]
        following = {**query, "s": str(offset + PAGE)}
        self._send(json.dumps({"results": results, "next": "i.js?" + urlencode(following)}).encode(),
                   "application/json")


@contextlib.contextmanager
def serve_engines() -> Iterator[tuple[str, Log]]:
    log = Log()
    server = Server(("127.0.0.1", 0), type("Handler", (EngineHandler,), {"log": log}))
    with running([server]):
        yield f"http://127.0.0.1:{server.server_address[1]}", log
