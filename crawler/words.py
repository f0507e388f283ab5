"""Category and colour words in a product's text, in the languages shops write.

The words live in ``crawler/data/vocabulary.toml`` (its header says how each kind of word
matches); a user's file adds to them. Text and words pass through one normalisation
(`fold`), so "Kırmızı Gömlek", "ROBE NOIRE", "Ｔシャツ" and "أسود" meet their entries.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shoplens import ShopLensError
from shoplens.vocab import base_colour

VOCABULARY = Path(__file__).with_name("data") / "vocabulary.toml"
# letters NFD does not take apart, and Arabic forms shops write either way
_SPELLED_OUT = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ı": "i", "æ": "ae", "œ": "oe", "ħ": "h",
                              "ى": "ي", "ـ": None})
_MARKED_SCRIPTS_END = 0x0800  # marks are dropped after Latin, Greek, Cyrillic, Hebrew and Arabic letters only
_SPACED_SCRIPT = re.compile(r"[a-z0-9\u00c0-\u052f \-]+")  # words written between spaces: match whole words
_PLURAL = "(?:e?s)?"
# Languages that put the head noun first ("robe chemise" is a dress, "short en jean" shorts);
# English, German, Dutch... put it last ("shirt dress", "Jeans Shorts").
HEAD_FIRST = frozenset({"fr", "es", "it", "pt", "ar"})
PATH_SEPARATOR = " > "  # breadcrumbs and Google's category paths: "Women > Shoes > Boots"
_COLOUR_PARTS = re.compile(r"[,/|;+&]")  # "GREY/BLACK", "Rot, Blau": several colours, the first is the main one


def fold(text: str) -> str:
    """NFKC, case-folded, without the accents and marks of Latin and Arabic letters (kana's
    voicing marks stay: they change the word)."""
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).casefold())
    kept, base = [], 0
    for char in decomposed:
        if unicodedata.combining(char) and base < _MARKED_SCRIPTS_END:
            continue
        if not unicodedata.combining(char):
            base = ord(char)
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept)).translate(_SPELLED_OUT)


@dataclass(frozen=True)
class Word:
    pattern: re.Pattern[str]
    meaning: str | None  # the category or colour it names; None for an [ignore] word
    weight: int  # letters it spells out: of two matches on one span, the more specific wins


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    word: Word


def _compile(entry: str, meaning: str | None) -> Word:
    written = fold(entry).strip()
    prefix, suffix = written.endswith("*"), written.startswith("*")
    core = written.strip("*")
    if not core:
        raise ShopLensError(f"empty vocabulary word {entry!r}")
    if not _SPACED_SCRIPT.fullmatch(core):
        return Word(re.compile(re.escape(core)), meaning, len(core))
    body = r"[\s\-]?".join(re.escape(part) for part in re.split(r"[\s\-]+", core))
    left = r"\w*" if suffix else ""
    right = r"\w*" if prefix else _PLURAL
    return Word(re.compile(rf"(?<!\w){left}{body}{right}(?!\w)"), meaning, len(core))


class Vocabulary:
    """Compiled words: ``categories`` per category, ``colours`` per base colour, ``ignored``,
    and Google's category numbers."""

    def __init__(self, tables: list[dict]) -> None:
        self.categories: dict[str, list[Word]] = {}
        self.google: dict[str, str] = {}
        self.colours: list[Word] = []
        self.ignored: list[Word] = []
        for table in tables:
            for category, languages in table.get("categories", {}).items():
                self.categories.setdefault(category, []).extend(
                    _compile(word, category) for words in languages.values() for word in words)
            self.colours.extend(_compile(word, colour) for colour, languages in table.get("colours", {}).items()
                                for words in languages.values() for word in words)
            self.ignored.extend(_compile(word, None) for words in table.get("ignore", {}).values() for word in words)
            self.google.update({str(number): category
                                for number, category in table.get("google_product_categories", {}).items()})

    def words_for(self, categories: tuple[str, ...]) -> list[Word]:
        """The words naming any of `categories`; a category the vocabulary lacks ("plate",
        "rain-cape") is named by its own word."""
        words = list(self.ignored)
        for category in categories:
            words.extend(self.categories.get(category) or [_compile(category, category)])
        return words


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ShopLensError(f"cannot read vocabulary {path}: {exc}") from None


@lru_cache(maxsize=8)
def vocabulary(extra: Path | None = None) -> Vocabulary:
    """The shipped vocabulary, with `extra`'s words added."""
    return Vocabulary([_read(VOCABULARY)] + ([_read(extra)] if extra else []))


def _found(text: str, words: list[Word]) -> list[Found]:
    """Matches of `words` in `text`, less any inside a longer or more specific one."""
    folded = fold(text)
    found = [Found(m.start(), m.end(), word) for word in words for m in word.pattern.finditer(folded)]

    def beaten(a: Found) -> bool:
        return any(b is not a and b.start <= a.start and a.end <= b.end
                   and (b.end - b.start, b.word.weight) > (a.end - a.start, a.word.weight) for b in found)
    return sorted((f for f in found if not beaten(f)), key=lambda f: f.start)


def _named(text: str, categories: tuple[str, ...], words: Vocabulary) -> list[str]:
    """The categories the text names, in the order it names them."""
    return [f.word.meaning for f in _found(text, words.words_for(categories)) if f.word.meaning]


def _head(named: list[str], language: str) -> str:
    return named[0] if language.split("-")[0].lower() in HEAD_FIRST else named[-1]


def category_in(text: str, categories: tuple[str, ...], words: Vocabulary | None = None,
                language: str = "") -> str | None:
    """Which of `categories` the text names. Of several, the head noun: the one named last,
    or first in a language that puts it first (`language`, ISO 639-1, as the page declares it).
    A path ("Home > Women > Shoes > Boots") is read from its most specific part; where that part
    names several, a broader part picks among them ("Shorts > Jeans Shorts": English words on a
    French page, whose word order the page's language would misread). A Google product category
    number names its category."""
    words = words or vocabulary()
    numbered = words.google.get(text.strip())
    if numbered:
        return numbered if numbered in categories else None
    if PATH_SEPARATOR in text:
        return _category_in_path([part for part in text.split(PATH_SEPARATOR) if part.strip()], categories,
                                 words, language)
    named = _named(text, categories, words)
    return _head(named, language) if named else None


def _category_in_path(parts: list[str], categories: tuple[str, ...], words: Vocabulary,
                      language: str) -> str | None:
    for depth in range(len(parts) - 1, -1, -1):
        named = _named(parts[depth], categories, words)
        if not named:
            continue
        broader = {category for part in parts[:depth] for category in _named(part, categories, words)}
        agreed = [category for category in named if category in broader]
        return _head(agreed if len(set(named)) > 1 and agreed else named, language)
    return None


def colour_in(text: str, words: Vocabulary | None = None) -> str | None:
    """The base colour the text names: of several ("GREY/BLACK"), the first; in each part
    an English colour name (shoplens.vocab), else a colour word of another language."""
    for part in _COLOUR_PARTS.split(text):  # "schwarz, marine, olivgrün": the first colour named
        found = base_colour(part) or next((f.word.meaning for f in _found(part, (words or vocabulary()).colours)), None)
        if found:
            return found
    return None

