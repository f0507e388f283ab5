"""How every ShopLens command ends: a user-facing error is one line and exit code 2."""

from __future__ import annotations

import argparse
import sys


def run_cli(parser: argparse.ArgumentParser, argv: list[str] | None, interrupted_hint: str = "") -> int:
    """Parse `argv`, run the chosen subcommand's ``func`` and return the exit code: 0, or the
    status the subcommand returns when it ran but did not do what was asked (a refused promotion)."""
    from shoplens import ShopLensError

    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except ShopLensError as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)  # always one line
        return 2
    except KeyboardInterrupt:
        print("interrupted" + (f": {interrupted_hint}" if interrupted_hint else ""), file=sys.stderr)
        return 130
    return status if isinstance(status, int) else 0
