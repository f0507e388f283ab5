"""Where the benchmarks find clothing-small (the SHOPLENS_CLOTHING_SMALL setting the tests read too,
relative to the repository) and the one way they skip when it is absent."""

from __future__ import annotations

from pathlib import Path

from shoplens.settings import CLOTHING_SMALL

DEFAULT_DATA = Path(__file__).resolve().parents[1] / CLOTHING_SMALL.read()  # an absolute setting stays absolute


def absent(data: Path) -> bool:
    """True, after saying the benchmark is skipped, when `data` lacks train/ and validation/."""
    if (data / "train").is_dir() and (data / "validation").is_dir():
        return False
    print(f"skipped: clothing-small not found at {data} (expects train/ and validation/)")
    return True
