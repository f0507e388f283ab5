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
COPY training ./training
# the training extra; the image's own CUDA torch and torchvision satisfy it and stay (no
# constraints.txt here: its CPU pins would replace them)
RUN pip install ".[train]"

USER shoplens
VOLUME ["/data"]
ENTRYPOINT ["torchrun", "--nproc-per-node=gpu", "-m", "training"]
CMD ["--help"]
