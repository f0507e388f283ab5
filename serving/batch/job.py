"""The Spark job: pictures in (a folder or URI, a crawl manifest, a Parquet table), answers out as Parquet.

Every picture is read into the columns of ``INPUT_SCHEMA``, hashed (SHA-1) by Spark, optionally
dropped when a previous output already holds its hash, and classified by ``mapInArrow`` over
Arrow batches on the executors' Python workers (``mapInPandas``'s Arrow path without the
pandas conversion, which PySpark 4.3 does not yet do right with pandas 3). Each worker loads
the bundle (shipped with the job through ``SparkContext.addFile``) once and answers with
``shoplens.classifier``, the code the TorchServe handler runs. A picture that cannot be read
or decoded is a row with ``error`` set. The output is written into a staging sibling and
renamed into place, so a reader sees the old output or the new one, never a mix.
"""

from __future__ import annotations

import functools
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from shoplens import ShopLensError
from shoplens.bundle import read_bundle
from shoplens.classifier import PictureClassifier
from shoplens.exported import COPY_EMBEDDING, EMBEDDING, load_predictor
from shoplens.imaging import ImageRejected
from shoplens.manifest import read_manifest

INPUT_SCHEMA = pa.schema([("source", pa.string()), ("content", pa.binary()), ("read_error", pa.string()),
                          ("true_category", pa.string()), ("true_colour", pa.string())])
LABELS = pa.list_(pa.struct([("label", pa.string()), ("probability", pa.float64())]))
OUTPUT_SCHEMA = pa.schema([
    ("sha1", pa.string()), ("source", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
    ("labels", LABELS), ("category", pa.string()), ("probability", pa.float64()), ("colour", pa.string()),
    ("colour_probability", pa.float64()), ("colour_source", pa.string()), ("categories", pa.list_(pa.string())),
    ("low_confidence", pa.bool_()), ("garment", pa.bool_()), ("garment_score", pa.float64()),
    (EMBEDDING, pa.list_(pa.float32())), (COPY_EMBEDDING, pa.list_(pa.float32())),
    ("model", pa.string()), ("version", pa.string()), ("error", pa.string()),
    ("true_category", pa.string()), ("true_colour", pa.string()),
])
FORMATS = ("auto", "files", "manifest", "parquet")


@dataclass(frozen=True)
class JobModel:
    """What each Python worker needs to load the model: the shipped bundle's name, runtime, threads."""

    bundle_name: str
    runtime: str
    threads: int
    batch_size: int


_LOADED: dict[JobModel, PictureClassifier] = {}  # one model per Python worker (workers are reused)


def worker_classifier(model: JobModel) -> PictureClassifier:
    if model not in _LOADED:
        import torch
        from pyspark import SparkFiles

        torch.set_num_threads(model.threads)  # the task's share of the cores (spark.task.cpus)
        directory = Path(SparkFiles.get(model.bundle_name))
        info, _ = read_bundle(directory)
        if model.runtime == "eager":  # asked for: the network itself (the network extra)
            from network.export import eager_predictor

            predict = eager_predictor(directory)
        else:  # an exported model's runtime alone (torch, ONNX Runtime or OpenVINO)
            predict = load_predictor(directory, info, model.runtime, model.threads)
        _LOADED[model] = PictureClassifier(info, predict, info.serving.low_confidence_margin)
    return _LOADED[model]


def answer_rows(classifier: PictureClassifier, chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The output rows of one model batch of input rows."""
    pictures = [ImageRejected(p["read_error"], p["read_error"]) if p["read_error"] else p["content"] for p in chunk]
    prepared = classifier.prepare(pictures)
    answers = classifier.answers(prepared, classifier.predict(prepared), with_embedding=[True] * len(chunk))
    return [{"sha1": picture["sha1"], "source": picture["source"], "true_category": picture["true_category"],
             "true_colour": picture["true_colour"], **output_fields(answer, size)}
            for answer, size, picture in zip(answers, prepared.sizes, chunk, strict=True)]


def output_fields(answer: dict[str, Any], size: tuple[int, int] | None) -> dict[str, Any]:
    """One answer as output columns (the one place to change when the answer grows)."""
    if "error" in answer:
        return {"error": answer["error"]}
    colour = answer.get("colour") or {}
    return {"width": size[0], "height": size[1], "labels": answer["labels"], "category": answer["category"],
            "probability": answer["labels"][0]["probability"], "colour": colour.get("label"),
            "colour_probability": colour.get("probability"), "colour_source": colour.get("source"),
            "categories": [entry["label"] for entry in answer["categories"]],
            "low_confidence": answer["low_confidence"],
            "garment": answer.get("garment"), "garment_score": answer.get("garment_score"),
            EMBEDDING: answer.get(EMBEDDING), COPY_EMBEDDING: answer.get(COPY_EMBEDDING),
            "model": answer["model"], "version": answer["version"]}


def classify_batches(model: JobModel, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    classifier = worker_classifier(model)
    for batch in batches:
        for start in range(0, batch.num_rows, model.batch_size):
            rows = answer_rows(classifier, batch.slice(start, model.batch_size).to_pylist())
            yield pa.RecordBatch.from_pylist(rows, schema=OUTPUT_SCHEMA)


def read_files(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Fill ``content`` from ``source`` (a path the executors can read) where it is empty."""
    for batch in batches:
        rows = batch.to_pylist()
        for row in rows:
            if row["content"] is None:
                try:
                    row["content"] = Path(row["source"].removeprefix("file://")).read_bytes()
                except OSError:
                    row["read_error"] = "unreadable"
        yield pa.RecordBatch.from_pylist(rows, schema=INPUT_SCHEMA)


def spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def input_format(source: str, asked: str) -> str:
    if asked != "auto":
        return asked
    return {".csv": "manifest", ".parquet": "parquet"}.get(Path(source).suffix.lower(), "files")


def read_pictures(spark: Any, source: str, form: str) -> Any:
    """The input as a DataFrame of ``INPUT_SCHEMA``, content read, SHA-1 added."""
    from pyspark.sql import functions as F

    if form == "files":  # Spark's own connectors: local paths, HDFS, S3 ...
        frame = (spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(source)
                 .select(F.col("path").alias("source"), "content", F.lit(None).cast("string").alias("read_error"),
                         *(F.lit(None).cast("string").alias(c) for c in ("true_category", "true_colour"))))
        empty = [(path, b"", "empty", None, None) for path in empty_files(spark, source)]
        if empty:
            frame = frame.unionByName(spark.createDataFrame(empty, spark_schema(INPUT_SCHEMA)))
    else:
        frame = (manifest_frame(spark, Path(source)) if form == "manifest" else parquet_frame(spark, source))
        frame = frame.mapInArrow(read_files, spark_schema(INPUT_SCHEMA))
    return frame.withColumn("sha1", F.sha1("content"))


def empty_files(spark: Any, source: str) -> list[str]:
    """Zero-byte files under `source`, which Spark's file sources skip: listed through Hadoop, so that each
    still ends as a row (error "empty"). Hidden files ("." or "_" first) are skipped, as Spark skips them."""
    jvm, conf = spark.sparkContext._jvm, spark.sparkContext._jsc.hadoopConfiguration()
    root = jvm.org.apache.hadoop.fs.Path(source)
    filesystem = root.getFileSystem(conf)
    listing, found = filesystem.listFiles(root, True), []
    while listing.hasNext():
        status = listing.next()
        relative = str(status.getPath().toUri().getPath())[len(str(root.toUri().getPath())):]
        hidden = any(part.startswith((".", "_")) for part in relative.split("/") if part)
        if status.getLen() == 0 and not hidden:
            found.append(status.getPath().toString())
    return found


def manifest_frame(spark: Any, manifest: Path) -> Any:
    """A crawl manifest's pictures with their labels (paths relative to the manifest's folder)."""
    rows = read_manifest(manifest)
    if not rows:
        raise ShopLensError(f"manifest {manifest} has no rows")
    pictures = [(str((manifest.parent / row["path"]).resolve()), None, None, row["category"] or None,
                 row.get("colour") or None) for row in rows]
    return spark.createDataFrame(pictures, spark_schema(INPUT_SCHEMA))


def parquet_frame(spark: Any, source: str) -> Any:
    """A Parquet table with a ``path`` column, and optionally ``content``, ``category``, ``colour``."""
    from pyspark.sql import functions as F

    table = spark.read.parquet(source)
    if "path" not in table.columns:
        raise ShopLensError(f"{source}: a picture table needs a 'path' column (it has {', '.join(table.columns)})")

    def column(name: str, kind: str) -> Any:
        return (F.col(name) if name in table.columns else F.lit(None)).cast(kind)

    return table.select(F.col("path").cast("string").alias("source"), column("content", "binary"),
                        F.lit(None).cast("string").alias("read_error"),
                        column("category", "string").alias("true_category"),
                        column("colour", "string").alias("true_colour"))


def spark_session(master: str | None, threads: int, batch_rows: int) -> Any:
    """The job's session: local[*] unless ``master`` (or spark-submit) says otherwise."""
    from pyspark.sql import SparkSession

    # the workers must run this interpreter (torch, pyarrow), not the system's python3
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("shoplens-batch")
    if master:
        builder = builder.master(master)
    return (builder.config("spark.task.cpus", str(threads))  # a task's torch threads own its cores
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
            # a picture costs little to open: Spark's 4 MB default packs only ~32 pictures per task
            .config("spark.sql.files.openCostInBytes", str(64 << 10))
            .config("spark.ui.showConsoleProgress", "false").getOrCreate())


def classify(spark: Any, bundle: Path, source: str, out: str, *, form: str = "auto", runtime: str | None = None,
             threads: int = 1, batch_size: int = 32, skip_existing: str | None = None) -> dict[str, int]:
    """Run the job; returns {"inputs": pictures in the input, "pictures": written rows, "errors": error rows}: every
    input is a row (an unreadable one an error row) unless `skip_existing` holds its picture."""
    info, _ = read_bundle(bundle)
    if runtime is None:  # an export where the bundle has one: workers then need no network code
        runtime = info.serving.runtime
        if runtime == "eager" and "onnx" in info.exports:
            runtime = "onnx"
    if runtime != "eager":  # a bundle without that export is exported once, here, not on every worker
        from network.export import exported_bundle

        bundle = exported_bundle(bundle, runtime)
    spark.sparkContext.addFile(str(bundle.resolve()), recursive=True)
    model = JobModel(bundle.resolve().name, runtime, threads, batch_size)
    frame = read_pictures(spark, source, input_format(source, form))
    inputs = frame.select("source").count()  # content pruned: a listing, not a read
    if skip_existing:
        done = spark.read.parquet(skip_existing).select("sha1").where("sha1 IS NOT NULL").distinct()
        frame = frame.join(done, "sha1", "left_anti")  # null hashes (unreadable) never match: kept
    answers = frame.mapInArrow(functools.partial(classify_batches, model), spark_schema(OUTPUT_SCHEMA))
    write_atomically(spark, answers, out)
    written = spark.read.parquet(out)
    return {"inputs": inputs, "pictures": written.count(), "errors": written.where("error IS NOT NULL").count()}


def write_atomically(spark: Any, frame: Any, out: str) -> None:
    """Write into a staging sibling, then swap it in: readers see the old output or the new, never a mix."""
    jvm, conf = spark.sparkContext._jvm, spark.sparkContext._jsc.hadoopConfiguration()
    target = jvm.org.apache.hadoop.fs.Path(out)
    filesystem = target.getFileSystem(conf)
    token = uuid.uuid4().hex[:12]
    staging = jvm.org.apache.hadoop.fs.Path(target.getParent(), f".{target.getName()}.staging-{token}")
    previous = jvm.org.apache.hadoop.fs.Path(target.getParent(), f".{target.getName()}.previous-{token}")
    try:
        frame.write.parquet(str(staging.toString()))
        if filesystem.exists(target) and not filesystem.rename(target, previous):
            raise ShopLensError(f"cannot move the previous output {out} aside")
        if not filesystem.rename(staging, target):
            filesystem.rename(previous, target)
            raise ShopLensError(f"cannot rename the new output into {out}")
        filesystem.delete(previous, True)
    finally:
        filesystem.delete(staging, True)
