"""``shoplens-batch classify`` (the Spark job) and ``shoplens-batch report`` (HTML and PNG from its output)."""

from __future__ import annotations

import argparse
from pathlib import Path

from shoplens import ShopLensError
from shoplens.bundle import EXPORTED_RUNTIMES
from shoplens.cli import run_cli


def _classify(args: argparse.Namespace) -> None:
    from serving.batch.job import classify, spark_session

    if args.skip_existing and args.skip_existing.rstrip("/") == args.out.rstrip("/"):
        raise ShopLensError("--skip-existing must name a previous output other than --out (it would be replaced)")
    spark = spark_session(args.master, args.threads, args.arrow_batch)
    try:
        counts = classify(spark, Path(args.bundle), args.input, args.out, form=args.format, runtime=args.runtime,
                          threads=args.threads, batch_size=args.batch_size, skip_existing=args.skip_existing)
    finally:
        spark.stop()
    skipped = f", {counts['inputs'] - counts['pictures']} already in {args.skip_existing}" if args.skip_existing else ""
    print(f"{counts['inputs']} inputs{skipped}; {counts['pictures']} rows written ({counts['errors']} errors) "
          f"-> {args.out}")
    if args.report:
        _report(argparse.Namespace(output=args.out, out=args.report, top=args.top))


def _report(args: argparse.Namespace) -> None:
    from serving.batch.report import write_report

    print(write_report(args.output, Path(args.out), args.top))


def build_parser() -> argparse.ArgumentParser:
    from serving.batch.job import FORMATS

    parser = argparse.ArgumentParser(prog="shoplens-batch", description=__doc__)
    commands = parser.add_subparsers(required=True)
    job = commands.add_parser("classify", help="label and embed pictures with a model bundle on Spark")
    job.add_argument("--bundle", required=True, help="the model bundle folder (training's OUT/bundle)")
    job.add_argument("--input", required=True,
                     help="a folder or URI of pictures, a crawl manifest .csv, or a Parquet table (path[, content])")
    job.add_argument("--format", choices=FORMATS, default="auto", help="auto: .csv manifest, .parquet table, "
                     "anything else a folder of pictures")
    job.add_argument("--out", required=True, help="the output Parquet folder or URI (replaced as a whole)")
    job.add_argument("--master", help="Spark master URL (default: spark-submit's, else local[*])")
    job.add_argument("--runtime", choices=tuple(EXPORTED_RUNTIMES), help="default: the bundle's")
    job.add_argument("--threads", type=int, default=1, help="torch threads per task = spark.task.cpus")
    job.add_argument("--batch-size", type=int, default=32, help="pictures per model call")
    job.add_argument("--arrow-batch", type=int, default=1024, help="rows per Arrow batch sent to a worker")
    job.add_argument("--skip-existing", metavar="PREVIOUS_OUTPUT",
                     help="classify only pictures whose SHA-1 is not in this previous output")
    job.add_argument("--report", metavar="DIR", help="also write the report of the output into DIR")
    job.add_argument("--top", type=int, default=20, help="pictures per label in the report's resolution ranking")
    job.set_defaults(func=_classify)
    report = commands.add_parser("report", help="HTML + PNG report of a classify output")
    report.add_argument("output", help="the classify output (Parquet)")
    report.add_argument("--out", required=True, help="the report folder")
    report.add_argument("--top", type=int, default=20, help="pictures per label in the resolution ranking")
    report.set_defaults(func=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv)
