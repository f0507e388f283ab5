# The ShopLens API (Flask under gunicorn). Build from the repository root:
#   docker build -f docker/api.Dockerfile -t shoplens-api .
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 shoplens
WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
COPY shoplens ./shoplens
COPY serving ./serving
# the API's extra only (pyproject.toml): no torch, no TorchServe
RUN pip install -c constraints.txt ".[api]"
# the corrections database (SQLite unless SHOPLENS_DATABASE_URL names a PostgreSQL) and picture store: a volume
RUN mkdir /corrections && chown shoplens /corrections

USER shoplens
# Inside its container the API listens on every interface; compose publishes it on the
# host's loopback only. API keys and endpoints come from the environment, never the image.
ENV SHOPLENS_BIND=0.0.0.0:8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["gunicorn", "-c", "serving/api/gunicorn.conf.py", "serving.api:create_app()"]
