"""gunicorn settings for the ShopLens API: ``gunicorn -c serving/api/gunicorn.conf.py 'serving.api:create_app()'``.

Loopback by default; override with SHOPLENS_BIND (e.g. 0.0.0.0:8000 behind a proxy); its settings are
declared in shoplens/settings.py.
"""

import json
import os
import tempfile

from gunicorn import util

from shoplens import settings

bind = settings.BIND.read()
workers = settings.WORKERS.read()
threads = settings.THREADS.read()
worker_class = "gthread"
timeout = 30  # a request never holds a worker longer than this
graceful_timeout = 10
max_requests = 2000  # recycle workers now and then
max_requests_jitter = 200
accesslog = settings.ACCESS_LOG.read()

# Requests gunicorn refuses itself, before Flask sees them (answered in JSON below): a request
# line over 4094 bytes (414), more than 100 header fields or one over 8190 bytes (431), and
# anything that is not HTTP (400). Bodies are limited in the API (serving/api/inputs.py).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190


def write_json_error(sock, status_int, reason, mesg):  # noqa: ANN001, ANN201 (gunicorn's signature)
    """gunicorn's own error answers (util.write_error writes HTML) in the API's JSON shape."""
    body = json.dumps({"error": f"{reason}: {mesg}"}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    util.write_nonblock(sock, head + body)


util.write_error = write_json_error  # workers call util.write_error for every error they answer themselves

# /metrics adds up every worker's counters through files in this folder (prometheus_client
# multiprocess mode); it must be set before the workers import prometheus_client.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="shoplens-metrics-"))


def child_exit(server, worker):  # noqa: ANN001, ANN201 (gunicorn hook)
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
