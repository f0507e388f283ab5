"""``shoplens-index``: build, update and prune the catalogue index for visual search."""

from __future__ import annotations

import argparse
from pathlib import Path

from shoplens import ShopLensError
from shoplens.bundle import RUNTIMES
from shoplens.cli import run_cli


def _build(args: argparse.Namespace) -> None:
    from serving.index.build import build_index, build_index_from_answers

    if args.answers:
        manifest = Path(args.manifest) if args.manifest else None
        print(build_index_from_answers(Path(args.answers), Path(args.index), manifest, fresh=args.fresh).line())
        return
    if not (args.manifest and args.bundle):
        raise ShopLensError("give --manifest and --bundle (embed the crawl's pictures), or --answers "
                            "(a shoplens-batch output, already embedded)")
    print(build_index(Path(args.manifest), Path(args.bundle), Path(args.index), fresh=args.fresh,
                      runtime=args.runtime).line())


def _remove_shop(args: argparse.Namespace) -> None:
    from serving.index.build import remove_shop

    version, removed = remove_shop(Path(args.index), args.shop)
    print(f"index {version}: {removed} items of {args.shop} removed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shoplens-index", description=__doc__)
    commands = parser.add_subparsers(required=True)
    build = commands.add_parser("build", help="embed a crawl's pictures and add them to the index (a new version)")
    build.add_argument("--manifest", help="the crawl's manifest.csv (pictures beside it; with --answers: "
                                          "where product page and picture URLs come from)")
    build.add_argument("--bundle", help="the model bundle that embeds the pictures")
    build.add_argument("--answers", help="a shoplens-batch classify output (Parquet): index its embeddings "
                                         "instead of embedding again")
    build.add_argument("--index", required=True, help="the index folder (created when new)")
    build.add_argument("--fresh", action="store_true", help="start a new index instead of adding to the current one")
    build.add_argument("--runtime", choices=RUNTIMES, default="onnx",
                       help="the bundle's exported model to run, or eager: the network rebuilt (a bundle without "
                            "exports such as the starter model; needs the train extra) (default: %(default)s)")
    build.set_defaults(func=_build)
    remove = commands.add_parser("remove-shop", help="write a version without one shop's products")
    remove.add_argument("--index", required=True)
    remove.add_argument("--shop", required=True, help="the shop's host name, as in the index's shop column")
    remove.set_defaults(func=_remove_shop)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv)
