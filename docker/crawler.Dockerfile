# The spiders, with Chromium for JavaScript pages.
#   docker build -f docker/crawler.Dockerfile -t shoplens-crawler .
#   docker run --rm -v shoplens-data:/data shoplens-crawler crawl --start https://shop.example --out /data/crawl
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium chromium-driver \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 shoplens
WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
COPY shoplens ./shoplens
COPY crawler ./crawler
RUN pip install -c constraints.txt ".[crawl]"

USER shoplens
VOLUME ["/data"]
ENTRYPOINT ["shoplens-crawl"]
CMD ["--help"]
