"""Command line: ``python -m training`` / ``shoplens-train`` with subcommands.

The command line is the single source of configuration; every option has a default.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from network.ensemble import TEST_TIME_VIEWS
from network.models import ARCHITECTURES, TRAINABLE
from shoplens import ShopLensError
from shoplens.cli import run_cli
from shoplens.settings import MAX_DISTANCE
from training.engine import OPTIMIZERS

# the colours of train pictures labelled by eye, relative to the repository's root
STARTER_COLOUR_LABELS = ("bench/colour_labels_train.csv", "bench/colour_labels_train_second.csv",
                         "bench/colour_labels_train_third.csv")


def _add_split_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="picture folder ROOT/<category>/[<colour>/]* or a manifest CSV")
    parser.add_argument("--scheme", default="60/20/20",
                        help="train/validation/test percentages (60/20/20, 50/50) or 'folders' for "
                             "ROOT/{train,validation,test}/ (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--max-distance", type=int, default=MAX_DISTANCE.default,
                        help="perceptual-hash bits within which pictures count as near-duplicates "
                             "(default: %(default)s)")


def add_train_options(parser: argparse.ArgumentParser) -> None:
    _add_split_options(parser)
    parser.add_argument("--split", help="reuse this split file instead of splitting --data")
    parser.add_argument("--categories", help="train on these categories only (comma-separated)")
    parser.add_argument("--no-colour", action="store_true",
                        help="learn the category alone, as the starter does (a model to compare with it, or to "
                             "replace it, must answer in its vocabulary)")
    parser.add_argument("--feedback", metavar="DATABASE_URL",
                        help="add the accepted corrections in this corrections database (SHOPLENS_DATABASE_URL's "
                             "form) to the training part; the split's pictures they touch leave every part")
    parser.add_argument("--out", default="runs/train", help="run folder (default: %(default)s)")
    parser.add_argument("--arch", default="efficientnet_lite0", choices=ARCHITECTURES)
    parser.add_argument("--weights", default="imagenet",
                        help="'imagenet' (download, or the bundled file for efficientnet_lite0), "
                             "'none', or a path to a local state dict (default: %(default)s)")
    parser.add_argument("--trainable", choices=TRAINABLE, default=None,
                        help="layers to train: the head, the last block and head, or all "
                             "(default: head when pretrained, all otherwise)")
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--optimizer", default="rmsprop", choices=OPTIMIZERS)
    parser.add_argument("--lr", type=float, default=2e-4, help="learning rate (default: %(default)s)")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--label-smoothing", type=float, default=0.0,
                        help="training loss only; noisy crawled labels may gain from 0.1 (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=30, help="most epochs (default: %(default)s)")
    parser.add_argument("--patience", type=int, default=5,
                        help="epochs without validation-loss improvement before stopping (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=None, help="input side (default: the model's, 224)")
    parser.add_argument("--augment-views", type=int, default=0,
                        help="extra augmented views of each training picture to cache when the stem "
                             "is frozen (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs with seeds seed..seed+N-1, reported with a t interval across runs")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes (default: %(default)s)")
    parser.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    parser.add_argument("--feature-cache", default="~/.cache/shoplens/features",
                        help="folder for cached frozen-stem outputs; '' to disable (default: %(default)s)")


def _cmd_split(args: argparse.Namespace) -> None:
    from training.splits import make_split, save_split

    if not args.data:
        raise ShopLensError("split needs --data")
    split = make_split(Path(args.data), args.scheme, args.seed, args.max_distance)
    save_split(split, Path(args.out))
    print(f"wrote {args.out}: {split.counts()}, skipped {split.skipped or 'none'}, "
          f"near-duplicate pairs across splits {split.leaks}")


def _cmd_train(args: argparse.Namespace) -> None:
    from training.train import TrainOptions, run

    run(TrainOptions.from_args(args))


def _cmd_compare(args: argparse.Namespace) -> None:
    from training.compare import compare_runs

    markdown, table = compare_runs([Path(d) for d in args.runs], Path(args.out))
    print(markdown.read_text(encoding="utf-8"), end="")
    print(f"wrote {markdown} and {table}")


def _cmd_demo(args: argparse.Namespace) -> None:
    from training.demo import run_demo

    run_demo(args)


def _cmd_starter(args: argparse.Namespace) -> None:
    from training.colour_fit import ColourLabels
    from training.starter import StarterRecipe, report_lines, run_starter, write_starter_bundle

    data = Path(args.data)
    if not (data / "train").is_dir() or not (data / "validation").is_dir():
        raise ShopLensError(f"{data} needs train/ and validation/ folders of ROOT/<split>/<category>/*.jpg")
    colour = ColourLabels([Path(p) for p in args.colour_labels], Path(args.colour_validation)) \
        if args.colour_labels else None
    recipe = StarterRecipe(args.members.split(","), args.views, Path(args.teacher) if args.teacher else None)
    run = run_starter(data, Path(args.feature_cache).expanduser(), recipe, colour)
    print("\n".join(report_lines(run.report)))
    print(f"wrote {write_starter_bundle(run, Path(args.out))}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shoplens-train", description="Train and evaluate ShopLens models.")
    commands = parser.add_subparsers(dest="command", required=True)

    split = commands.add_parser("split", help="scan pictures and write a reproducible split file")
    _add_split_options(split)
    split.add_argument("--out", default="split.json", help="split file to write (default: %(default)s)")
    split.set_defaults(func=_cmd_split)

    train = commands.add_parser("train", help="train, evaluate, report and export a model bundle")
    add_train_options(train)
    train.set_defaults(func=_cmd_train)

    starter = commands.add_parser("starter", help="the starter model: EfficientNet-Lite ensemble, last "
                                  "blocks and heads fine-tuned on train, everything chosen on validation; "
                                  "writes its bundle")
    starter.add_argument("--data", default="../shared/datasets/clothing-small",
                         help="ROOT/{train,validation}/<category>/*.jpg (default: %(default)s)")
    starter.add_argument("--out", default="models/starter", help="bundle folder (default: %(default)s)")
    starter.add_argument("--members", default="efficientnet_lite1,efficientnet_lite2",
                         help="backbones to choose the ensemble from (default: %(default)s)")
    starter.add_argument("--views", choices=list(TEST_TIME_VIEWS), default="four",
                         help="the views trained and served: four (centre crop, whole picture, their mirror "
                         "images: four passes) or whole (the whole picture alone: one pass) (default: %(default)s)")
    starter.add_argument("--teacher", help="a bundle whose answers on train the model learns beside the labels "
                         "(distillation, e.g. a four-view starter for a one-view one)")
    starter.add_argument("--feature-cache", default="~/.cache/shoplens/features",
                         help="folder for cached trunk maps (default: %(default)s)")
    starter.add_argument("--colour-labels", nargs="*", default=list(STARTER_COLOUR_LABELS),
                         help="CSV files (file, colour) of train pictures labelled by eye, to fit the colour "
                         "model on; none: colour from the pixels alone (default: %(default)s)")
    starter.add_argument("--colour-validation", default="bench/colour_labels.csv",
                         help="CSV file of validation pictures labelled by eye, to measure the colour model "
                         "(default: %(default)s)")
    starter.set_defaults(func=_cmd_starter)

    compare = commands.add_parser("compare", help="one comparison table from several run folders")
    compare.add_argument("runs", nargs="+", help="run folders holding metrics.json")
    compare.add_argument("--out", default="comparison", help="writes OUT.md and OUT.csv (default: %(default)s)")
    compare.set_defaults(func=_cmd_compare)

    demo = commands.add_parser("demo", help="the main job offline: draw a sample, train, evaluate, report")
    add_train_options(demo)
    demo.add_argument("--per-label", type=int, default=16, help="pictures drawn per category x colour")
    demo.set_defaults(func=_cmd_demo, out="runs/demo", epochs=20)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv, "run again with --resume to continue from the last epoch")
