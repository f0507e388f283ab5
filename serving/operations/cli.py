"""``python -m serving`` / ``shoplens-serve``: archive a bundle, or run the serving stack."""

from __future__ import annotations

import argparse
import secrets
import signal
import time
from pathlib import Path

from shoplens import settings
from shoplens.bundle import RUNTIMES
from shoplens.cli import run_cli

# The starter model committed with the project (``shoplens-train starter`` writes it).
STARTER_BUNDLE = Path(__file__).resolve().parents[2] / "models" / "starter"


def _archive(args: argparse.Namespace) -> None:
    from serving.operations.archive import archive

    print(archive(Path(args.bundle), Path(args.store), args.name, **model_settings(args)))


def _up(args: argparse.Namespace) -> None:
    from serving.operations.stack import Stack

    key = args.api_key or secrets.token_urlsafe(16)
    admin_keys = [args.admin_key] if args.admin_key else list(settings.ADMIN_KEYS.read()) or [secrets.token_urlsafe(16)]
    stack = Stack(Path(args.bundle), Path(args.workdir), [key], tuple(args.cors_origin), args.instances,
                  api_port=args.port, model_settings=model_settings(args),
                  api_environment=settings.environment({settings.ADMIN_KEYS: admin_keys}))
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it as cleanly as Ctrl-C
    with stack.start():
        print(f"API {stack.api.url} (X-API-Key: {key}); TorchServe "
              f"{', '.join(ts.inference_url for ts in stack.torchserves)}; redis {stack.redis.url}; "
              f"review queue {stack.api.url}/review (admin key: {admin_keys[0]}); "
              f"logs in {stack.workdir / 'logs'}. A part that dies is started again. Ctrl-C stops everything.",
              flush=True)
        stack.supervise(lambda line: print(f"{time.strftime('%H:%M:%S')} {line}", flush=True))


def _promote(args: argparse.Namespace) -> int:
    from serving.operations.promote import REFUSED, new_client, promote

    bundle = Path(args.bundle)
    split = Path(args.split) if args.split else bundle.resolve().parent / "split.json"
    verdict = promote(bundle, Path(args.store), split, args.feedback, new_client(args.name),
                      lambda line: print(line, flush=True))
    print("\n".join([*verdict.lines(), verdict.outcome()]))
    return 0 if verdict.promoted else REFUSED


def model_settings(args: argparse.Namespace) -> dict[str, object]:
    """The serving settings given on the command line (the rest come from the bundle)."""
    return {name: getattr(args, name) for name in ("runtime", "batch_size", "max_batch_delay_ms", "workers",
                                                   "threads", "low_confidence_margin")}


def add_model_settings(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model settings written into the archive (default: the bundle's)")
    group.add_argument("--runtime", choices=RUNTIMES, help="model runtime in TorchServe")
    group.add_argument("--batch-size", type=int, help="TorchServe dynamic batch size")
    group.add_argument("--max-batch-delay-ms", type=int, help="longest wait for a batch to fill")
    group.add_argument("--workers", type=int, help="TorchServe workers for the model")
    group.add_argument("--threads", type=int, help="intra-op threads of each worker's model")
    group.add_argument("--low-confidence-margin", type=float,
                       help="an answer is unsure when its top two category probabilities are closer")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shoplens-serve", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    archive = commands.add_parser("archive", help="turn a training bundle into STORE/NAME.mar")
    archive.add_argument("bundle", help="bundle folder written by training (bundle.json + weights.pt)")
    archive.add_argument("--store", default="model_store", help="model store folder (default: %(default)s)")
    archive.add_argument("--name", default="shoplens", help="model name (default: %(default)s)")
    add_model_settings(archive)
    archive.set_defaults(func=_archive)
    up = commands.add_parser("up", help="redis-server, TorchServe and the API on loopback, until Ctrl-C")
    up.add_argument("bundle", nargs="?", default=str(STARTER_BUNDLE),
                    help="bundle folder written by training (default: the starter model, models/starter)")
    up.add_argument("--workdir", default="runs/serve", help="model store, TorchServe folders, logs")
    up.add_argument("--port", type=int, default=8000, help="API port on 127.0.0.1 (default: %(default)s)")
    up.add_argument("--api-key", help="the API key clients send (default: a new random one, printed)")
    up.add_argument("--admin-key", help="the key that opens the review queue "
                                        "(default: SHOPLENS_ADMIN_KEYS, else a new random one, printed)")
    up.add_argument("--cors-origin", action="append", default=[], help="extension origin allowed by CORS")
    up.add_argument("--instances", type=int, default=1, help="TorchServe instances (default: %(default)s)")
    add_model_settings(up)
    up.set_defaults(func=_up)
    promote = commands.add_parser(
        "promote", help="register a retrained bundle as a new version and make it the default only when it is "
                        "not worse on the same held-out pictures (exit 3 when refused)",
        description="TorchServe's addresses and keys come from SHOPLENS_TORCHSERVE_URLS, _MANAGEMENT_URLS and "
                    "_KEY_FILES, as the API's do. Exit status: 0 promoted, 3 refused (the old default stays), "
                    "2 bad input or a failure (nothing registered).")
    promote.add_argument("bundle", help="the retrained bundle folder")
    promote.add_argument("--store", default="runs/serve/model-store",
                         help="the running TorchServe's model store (default: %(default)s, `up`'s)")
    promote.add_argument("--split", help="split file whose test part is the held-out set "
                                         "(default: split.json beside the bundle folder)")
    promote.add_argument("--feedback", metavar="DATABASE_URL",
                         help="corrections database: its accepted corrections' pictures are left out of the "
                              "held-out set")
    promote.add_argument("--name", help="model name in TorchServe (default: SHOPLENS_MODEL_NAME, shoplens)")
    promote.set_defaults(func=_promote)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv, "serving stack stopped")
