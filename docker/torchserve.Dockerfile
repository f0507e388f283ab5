# TorchServe with the ShopLens handler; serves the .mar files of the model-store volume.
#   docker build -f docker/torchserve.Dockerfile -t shoplens-torchserve .
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 shoplens
WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
COPY shoplens ./shoplens
COPY serving ./serving
# the worker's extra: archives carry exported models (ONNX Runtime or TorchScript; `shoplens-serve
# archive` exports a bundle that lacks one), so neither the network and training packages nor timm are here
RUN pip install -c constraints.txt ".[worker]"
COPY docker/torchserve.config.properties /app/config.properties
# owned by the server's user, so the key-file volume mounted there starts writable
RUN mkdir -p /home/shoplens/work && chown shoplens:shoplens /home/shoplens/work

USER shoplens
WORKDIR /home/shoplens/work
EXPOSE 8080 8081 8082
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import json, urllib.request as u; k = json.load(open('key_file.json'))['inference']['key']; u.urlopen(u.Request('http://127.0.0.1:8080/ping', headers={'Authorization': 'Bearer ' + k}), timeout=3)"]
CMD ["torchserve", "--start", "--foreground", "--ncs", "--ts-config", "/app/config.properties", "--model-store", "/models"]
