"""gunicorn settings for the ShopLens API: ``gunicorn -c serving/gunicorn.conf.py 'serving.api:create_app()'``.

Loopback by default; override with SHOPLENS_BIND (e.g. 0.0.0.0:8000 behind a proxy); its settings are
declared in shoplens/settings.py.
"""

import os
import tempfile

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

# /metrics adds up every worker's counters through files in this folder (prometheus_client
# multiprocess mode); it must be set before the workers import prometheus_client.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="shoplens-metrics-"))


def child_exit(server, worker):  # noqa: ANN001, ANN201 (gunicorn hook)
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
