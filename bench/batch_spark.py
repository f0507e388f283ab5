"""Benchmark: pictures/s of the Spark batch job at local[1] and local[2] beside a plain loop, in one run.

For each picture count (default 1,000 / 4,000 / 16,000 drawn garments, 96x128 JPEGs) it runs
``serving.batch.job.classify`` on a folder of that many pictures in a local[1] and a local[2]
session (one session per master, warmed up by a small job first, so JVM and session start are
not counted; each job's Python workers still start and load the bundle, as in production), and
a plain single-process loop over the same files with the same model, runtime, threads (1),
batch size and answer code (``shoplens.classifier`` through the job's ``answer_rows``), hashing each
file and writing the same Parquet table as the job does, so the difference is the engine's. Then it
prints the table and the three targets: local[2] >= 1.6x local[1]; local[1]'s time within 1.3x
of the plain loop's; time linear in the count (pictures/s of the largest count within 20 % of
the smallest's). Without --bundle it trains a small simple_cnn on drawn pictures (64 px, seconds).

    nice -n 5 .venv/bin/python bench/batch_spark.py [--counts 1000,4000,16000] [--bundle DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from serving.batch.job import OUTPUT_SCHEMA, answer_rows, classify, spark_session
from shoplens.bundle import read_bundle
from shoplens.classifier import PictureClassifier
from shoplens.exported import load_predictor
from shoplens.sample import write_sample
from training.cli import main as training_main

CATEGORIES, COLOURS = ["dress", "shirt", "pants", "skirt"], ["red", "blue", "black", "white"]
BATCH_SIZE = 32
MASTERS = ("local[1]", "local[2]")


def small_bundle(out: Path) -> Path:
    if not (out / "model" / "bundle" / "bundle.json").exists():
        write_sample(out / "train-data", CATEGORIES[:3], COLOURS[:2], per_label=12, size=(96, 128), seed=1)
        argv = ["train", "--data", str(out / "train-data"), "--out", str(out / "model"), "--arch", "simple_cnn",
                "--weights", "none", "--image-size", "64", "--epochs", "2", "--workers", "0", "--feature-cache", ""]
        if training_main(argv) != 0:
            raise SystemExit("training the benchmark model failed")
    return out / "model" / "bundle"


def picture_folders(out: Path, counts: list[int]) -> dict[int, Path]:
    """A folder per count, hard links to the first `count` of one drawn set."""
    pool = out / "pictures" / "all"
    per_label = -(-max(counts) // (len(CATEGORIES) * len(COLOURS)))
    if len(list(pool.rglob("*.jpg"))) < max(counts):
        shutil.rmtree(pool, ignore_errors=True)
        write_sample(pool, CATEGORIES, COLOURS, per_label=per_label, size=(96, 128), seed=2)
    files = sorted(pool.rglob("*.jpg"))
    folders = {}
    for count in counts:
        folder = out / "pictures" / str(count)
        if len(list(folder.glob("*.jpg"))) != count:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for index, path in enumerate(files[:count]):
                os.link(path, folder / f"{index:06d}.jpg")
        folders[count] = folder
    return folders


def plain_loop(bundle: Path, runtime: str, folder: Path, out: Path) -> float:
    """Seconds for one process to do the job's work by hand, batch by batch: read and hash every picture
    of `folder`, answer it with the job's own row code and write the same Parquet table."""
    started = time.perf_counter()
    info, _ = read_bundle(bundle)
    classifier = PictureClassifier(info, load_predictor(bundle, info, runtime, 1), info.serving.low_confidence_margin)
    files = sorted(folder.glob("*.jpg"))
    answered = 0
    with pq.ParquetWriter(out, OUTPUT_SCHEMA) as writer:
        for first in range(0, len(files), BATCH_SIZE):
            chunk = [picture_row(path) for path in files[first:first + BATCH_SIZE]]
            rows = answer_rows(classifier, chunk)
            writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=OUTPUT_SCHEMA))
            answered += sum(row.get("error") is None for row in rows)
    assert answered == len(files)
    return time.perf_counter() - started


def picture_row(path: Path) -> dict:
    """One input row as the job's reader makes it."""
    content = path.read_bytes()
    return {"source": f"file:{path}", "content": content, "read_error": None, "sha1": hashlib.sha1(content).hexdigest(),
            "true_category": None, "true_colour": None}


def spark_seconds(master: str, bundle: Path, runtime: str, folders: dict[int, Path], out: Path) -> dict[int, float]:
    import torch

    torch.set_num_threads(1)
    spark = spark_session(master, threads=1, batch_rows=1024)
    try:
        classify(spark, bundle, str(folders[min(folders)]), str(out / "warm-up"), runtime=runtime)
        seconds = {}
        for count, folder in folders.items():
            started = time.perf_counter()
            counts = classify(spark, bundle, str(folder), str(out / f"answers-{count}"), runtime=runtime,
                              batch_size=BATCH_SIZE)
            seconds[count] = time.perf_counter() - started
            assert counts == {"pictures": count, "errors": 0}, counts
        return seconds
    finally:
        spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1000,4000,16000", help="picture counts (default: %(default)s)")
    parser.add_argument("--bundle", type=Path, help="model bundle (default: train a small simple_cnn)")
    parser.add_argument("--runtime", choices=("onnx", "torchscript"), default="onnx")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-batch"))
    args = parser.parse_args()
    counts = sorted(int(c) for c in args.counts.split(","))
    bundle = args.bundle or small_bundle(args.out)
    folders = picture_folders(args.out, counts)
    import torch

    torch.set_num_threads(1)
    plain = {count: plain_loop(bundle, args.runtime, folder, args.out / f"plain-{count}.parquet")
             for count, folder in folders.items()}
    spark = {master: spark_seconds(master, bundle, args.runtime, folders, args.out / "spark") for master in MASTERS}
    print(f"bundle {bundle} ({read_bundle(bundle)[0].arch}), runtime {args.runtime}, batch {BATCH_SIZE}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'pictures':>9} {'plain p/s':>10} {'local[1] p/s':>13} {'local[2] p/s':>13} {'l2/l1':>6} "
          f"{'l1/plain time':>14}")
    for count in counts:
        one, two = spark["local[1]"][count], spark["local[2]"][count]
        print(f"{count:>9} {count / plain[count]:>10.1f} {count / one:>13.1f} {count / two:>13.1f} "
              f"{one / two:>6.2f} {one / plain[count]:>14.2f}")
    low, high = counts[0], counts[-1]
    speedup = spark["local[1]"][high] / spark["local[2]"][high]
    overhead = spark["local[1]"][high] / plain[high]
    linear = (high / spark["local[1]"][high]) / (low / spark["local[1]"][low])
    print(f"target local[2] >= 1.6x local[1] at {high}: {speedup:.2f}x {'met' if speedup >= 1.6 else 'MISSED'}")
    print(f"target local[1] within 1.3x of the plain loop at {high}: {overhead:.2f}x "
          f"{'met' if overhead <= 1.3 else 'MISSED'}")
    print(f"target linear growth (local[1] p/s at {high} / at {low}): {linear:.2f} "
          f"{'met' if 0.8 <= linear <= 1.25 else 'MISSED'}")


if __name__ == "__main__":
    main()
