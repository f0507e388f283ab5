"""How a crawl accounts for what it saw: every product picture ends kept or dropped for a
counted reason, per term, in the crawl stats; the summary and the stats file read them.

Keys: ``shoplens/seen`` (pictures the sources named, plus products naming none and
structured-data blocks that could not be read), ``shoplens/kept`` (pictures written to disk),
``shoplens/dropped/<reason>``,
and per term ``shoplens/term/<query>/kept|dropped/<reason>``; drops before a term is known
go under the term ``(no term)``. So seen == kept + the sum of dropped, once the crawl ends.
Pages are counted beside them: pages without any structured data, and pages that were
another address of a page already read (``<link rel=canonical>``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NO_TERM = "(no term)"
REPEATED = "shoplens/repeated_pictures"  # a picture named again on another page: offered once, not seen twice
PAGES_WITHOUT_DATA = "shoplens/pages/no_structured_data"
PAGES_REPEATED = "shoplens/pages/repeated"  # another address of a page already read (its canonical URL)
STATS_FILE = "crawl-stats.json"


def seen(stats: Any) -> None:
    stats.inc_value("shoplens/seen")


def kept(stats: Any, query: str) -> None:
    stats.inc_value("shoplens/kept")
    stats.inc_value(f"shoplens/term/{query}/kept")


def dropped(stats: Any, reason: str, query: str = "") -> None:
    stats.inc_value(f"shoplens/dropped/{reason}")
    stats.inc_value(f"shoplens/term/{query or NO_TERM}/dropped/{reason}")


def _per_term(stats: dict[str, Any], query: str) -> dict[str, Any]:
    prefix = f"shoplens/term/{query}/"
    drops = {k[len(prefix) + len("dropped/"):]: v for k, v in stats.items() if k.startswith(prefix + "dropped/")}
    return {"kept": stats.get(prefix + "kept", 0), "dropped": dict(sorted(drops.items()))}


def report(stats: dict[str, Any], queries: list[str]) -> dict[str, Any]:
    """The crawl's outcome as plain data: what the summary prints and the stats file holds."""
    totals = {k.rsplit("/", 1)[1]: v for k, v in stats.items() if k.startswith("shoplens/dropped/")}
    terms = {q: _per_term(stats, q) for q in queries}
    if any(k.startswith(f"shoplens/term/{NO_TERM}/") for k in stats):
        terms[NO_TERM] = _per_term(stats, NO_TERM)
    return {"seen": stats.get("shoplens/seen", 0), "kept": stats.get("shoplens/kept", 0),
            "dropped": dict(sorted(totals.items())), "terms": terms,
            "pages": stats.get("response_received_count", 0),
            "pages_without_structured_data": stats.get(PAGES_WITHOUT_DATA, 0),
            "pages_repeated": stats.get(PAGES_REPEATED, 0), "pictures_repeated": stats.get(REPEATED, 0),
            "offsite_pages_skipped": stats.get("offsite/filtered", 0),
            "finish_reason": stats.get("finish_reason", "")}


def summary(outcome: dict[str, Any], per_term: int) -> list[str]:
    """The end-of-run table: per term wanted, kept, dropped by reason; then the totals."""
    lines = [f"{'term':24} {'wanted':>7} {'kept':>6}  dropped"]
    for query, row in outcome["terms"].items():
        wanted = "-" if query == NO_TERM or not per_term else per_term
        lines.append(f"{query:24} {wanted:>7} {row['kept']:>6}  "
                     + (", ".join(f"{k}={v}" for k, v in row["dropped"].items()) or "-"))
    lines.append(f"total kept {outcome['kept']}, dropped "
                 + (", ".join(f"{k}={v}" for k, v in outcome["dropped"].items()) or "none")
                 + f"; pages {outcome['pages']} ({outcome['offsite_pages_skipped']} offsite skipped, "
                 + f"{outcome['pages_without_structured_data']} without structured data, "
                 + f"{outcome['pages_repeated']} repeated)"
                 + f"; seen {outcome['seen']}")
    return lines


def write_stats(out: Path, outcome: dict[str, Any]) -> Path:
    path = out / STATS_FILE
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(outcome, indent=2) + "\n", encoding="utf-8")
    return path
