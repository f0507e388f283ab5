"""Search terms (category x colour) and matching a product's text to one of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crawler.words import Vocabulary, category_in, colour_in
from shoplens import ShopLensError
from shoplens.vocab import parse_term, slug, term


@dataclass(frozen=True)
class Term:
    category: str
    colour: str | None

    @property
    def query(self) -> str:
        return term(self.category, self.colour)


def terms_from_lists(categories: list[str], colours: list[str]) -> list[Term]:
    """Every category x colour pair; categories alone when no colour is given."""
    if not categories:
        raise ShopLensError("give at least one category")
    return [Term(slug(c), slug(k) if k else None) for c in categories for k in (colours or [None])]


def terms_from_file(path: Path) -> list[Term]:
    """One term per line ("red dress"); blank lines and # comments ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ShopLensError(f"cannot read term file {path}: {exc}") from None
    terms = [Term(*parse_term(line)) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not terms:
        raise ShopLensError(f"term file {path} holds no terms")
    return terms


def _words(text: str) -> list[str]:
    cleaned = "".join(ch if ch.isalnum() or ch == "-" else " " for ch in text.lower())
    # a lone "-" (as in "Basic Tee - Black") is punctuation, not a word; a word in a script
    # a label cannot spell ("تيشيرت") is no label word
    return [slug(word) for word in cleaned.split() if any("a" <= ch <= "z" or "0" <= ch <= "9" for ch in word)]


@dataclass(frozen=True)
class Match:
    term: Term
    colour_from: str  # which text named the colour: "colour" (the source's colour text), "name", or "" (none)


def match(terms: list[Term], category_texts: list[str], colour_text: str, name: str = "",
          words: Vocabulary | None = None, language: str = "") -> Match | str:
    """The term a product picture belongs to, or why none: "no_matching_term" (no category
    or colour of the terms), "no_colour" (a category of the terms, but the terms all name a
    colour and the source names none). The category comes from the first of
    `category_texts` that names one of the terms' categories (the source's category, then
    the page's breadcrumb, then the name, say), in any language the vocabulary knows; the
    colour from the colour text, else the name; any colour name maps to its base colour
    ("Burgundy", "Bordeaux", "أحمر" -> red)."""
    categories = tuple(dict.fromkeys(t.category for t in terms))
    category = next((found for text in category_texts
                     if text and (found := category_in(text, categories, words, language))), None)
    if category is None:
        return "no_matching_term"
    colour, colour_from = colour_in(colour_text, words), "colour"
    if colour is None:
        colour, colour_from = colour_in(name, words), "name"
    for candidate in terms:
        if candidate.category == category and candidate.colour in (None, colour):
            return Match(candidate, colour_from if colour else "")
    return "no_colour" if colour is None else "no_matching_term"


def column_from_html_table(page: str, table: int, column: str) -> list[str]:
    """Cell texts of one column of the `table`-th table (0-based) as pandas.read_html reads
    it (rowspan and colspan filled in, header rows as column names); `column` is a header
    text (case-insensitive) or a 0-based index."""
    from io import StringIO

    import pandas as pd

    try:
        tables = pd.read_html(StringIO(page))
    except ValueError:  # pandas' way of saying "no tables found"
        tables = []
    if not 0 <= table < len(tables):
        raise ShopLensError(f"the page has {len(tables)} table(s); there is no table {table}")
    frame = tables[table]
    # several header rows give tuples; a header cell spanning rows repeats in them ("Garment", "Garment")
    header = [" ".join(dict.fromkeys(str(p) for p in (c if isinstance(c, tuple) else (c,)))).strip().lower()
              for c in frame.columns]
    if column.isdigit() and int(column) < len(header):
        index = int(column)
    elif column.lower() in header:
        index = header.index(column.lower())
    else:
        raise ShopLensError(f"no column {column!r} in table {table} (headers: {', '.join(header) or 'none'})")
    return [str(cell).strip() for cell in frame.iloc[:, index].dropna() if str(cell).strip()]


def terms_from_cells(cells: list[str], colours: list[str]) -> list[Term]:
    """A category per distinct cell, none dropped: the garment word the cell names
    ("Summer dresses" -> dress), else the cell's own words ("Rain capes" -> rain-cape)."""
    from shoplens.vocab import CATEGORIES

    categories = []
    for cell in cells:
        words = _words(cell)
        if not words:
            continue
        found = next((w for w in words if w in CATEGORIES), None) or slug("-".join(words))
        if found not in categories:
            categories.append(found)
    if not categories:
        raise ShopLensError("the chosen column holds no text")
    return terms_from_lists(categories, colours)
