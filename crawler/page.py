"""What a product page says outside its structured data: its canonical address, its
breadcrumb, the colour it shows selected, and, for a page with no structured data at all,
its main picture and title.

Shapes read (as shop themes write them): ``<link rel=canonical>``; breadcrumbs in
``nav[aria-label*=breadcrumb]`` or ``.breadcrumb(s)`` lists; the selected colour as a
checked radio (Shopify Dawn), a selected ``<option>`` (WooCommerce), a selected swatch
(``aria-checked``/``aria-pressed``/``aria-current``, ``selected``/``active`` classes, Magento's
``swatch-attribute-selected-option``, Zara's selected colour name), the colour option of
the page's own product JSON (Shopify's ``product | json`` in a ``<script type=application/json>``),
a product-details row ("Farbe | türkis", Amazon's variation selector), or a "Colour: Black"
line beside the title; and a lone product's gallery (pictures with its name as their
alternative text, Amazon's thumbnails).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from parsel import Selector

from crawler.structured import COLOUR_NAME, COLOUR_WORDS, Picture, Product, walk_objects
from crawler.words import Vocabulary, colour_in, fold

# Where a page with no structured data is still a product page: its path, as the big
# marketplaces and shop systems write product addresses (Amazon /dp/ and /gp/product/,
# Shopify /products/, Etsy /listing/, eBay /itm/, Zalando and Spartoo ".html" with an id).
PRODUCT_PATH = re.compile(r"/(?:dp|gp/product|products?|p|pd|item|itm|listing)/[^/]+|-p-?\d+\.html$|-\d{5,}\.html$",
                          re.IGNORECASE)
# a colour selector's name, class or id ("color-scheme" is Dawn's palette, not a colour choice)
COLOUR_WORD = re.compile(r"colou?r(?!-?scheme)|farbe|couleur|kleur|colore|swatch|renk|kolor", re.IGNORECASE)
SELECTED = ("[aria-checked='true']", "[aria-pressed='true']", "[aria-selected='true']", "[aria-current='true']",
            "[class*='selected']", "[class*='active']", "[class*='current']")
LABEL_ATTRIBUTES = ("data-color", "data-colour", "data-value", "title", "aria-label", "data-title", "value")
_LABELLED_COLOUR = re.compile(rf"\b(?:{COLOUR_WORDS})\s*[:：]\s*" r"([^\n|/,;(){}\[\]\"<>:]{1,40})", re.IGNORECASE)
# a product page's main picture, best first: the largest the page names before its thumbnail
MAIN_PICTURE = ("meta[property='og:image']::attr(content)", "meta[name='twitter:image']::attr(content)",
                "link[rel=image_src]::attr(href)", "#landingImage::attr(data-old-hires)", "#landingImage::attr(src)",
                "#main-image::attr(src)", "img[itemprop=image]::attr(src)")
# where a gallery element keeps its largest picture, best first (zoom plugins, WooCommerce's gallery, H&M's
# full-screen view, OTTO, Amazon, lazy loaders)
GALLERY_ATTRIBUTES = ("data-zoom-image", "data-zoom", "data-large_image", "data-large", "data-fullscreen",
                      "data-image-src", "data-old-hires", "data-src")
# H&M's article script: the selected article's code, and each picture's zoom address (the desktop one of
# ``isDesktop ? 'a' : 'b'``)
ARTICLE_CODE = re.compile(r"['\"]articleCode['\"]\s*:\s*['\"](\d+)['\"]")
ARTICLE_PICTURE = re.compile(r"['\"]zoom['\"]\s*:\s*(?:\w+\s*\?\s*)?['\"]([^'\"]+)['\"]")
MIN_NAME = 6  # characters: a shorter product name ("Top") is in too many alternative texts to pick a gallery by
MAX_LABEL = 40  # characters: a swatch's name is short; anything longer is a sentence


def canonical_url(selector: Selector, products: list[Product], url: str) -> str:
    """The page's one address: its ``<link rel=canonical>``, else the lone product's own
    URL, else the address it was reached by."""
    link = selector.xpath("//link[translate(@rel, 'CANONICAL', 'canonical')='canonical']/@href").get()
    own = {p.url for p in products if p.url}
    target = (link or "").strip() or (own.pop() if len(own) == 1 else "")
    found = urljoin(url, target) if target else url
    return found if urlsplit(found).scheme in ("http", "https") else url


def html_breadcrumb(selector: Selector) -> str:
    trail = selector.css("nav[aria-label*=readcrumb] a, nav[aria-label*=readcrumb] li, "
                        ".breadcrumb a, .breadcrumbs a, [class*=breadcrumb] li, [id*=breadcrumb] a")
    names = [" ".join(t.css("::text").getall()).strip() for t in trail]
    return " > ".join(dict.fromkeys(n for n in names if n and len(n) <= MAX_LABEL))


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if 0 < len(text) <= MAX_LABEL else ""


def _checked_inputs(selector: Selector) -> Iterator[str]:
    for field in selector.css("input[checked]"):
        if COLOUR_WORD.search(field.attrib.get("name", "") + field.attrib.get("id", "")):
            yield field.attrib.get("value", "")
    for choice in selector.css("select option[selected]"):
        owner = choice.xpath("ancestor::select[1]")
        if COLOUR_WORD.search(owner.attrib.get("name", "") + owner.attrib.get("id", "")):
            yield " ".join(choice.css("::text").getall())


def _selected_swatches(selector: Selector) -> Iterator[str]:
    named = selector.css("[class*='selected-option'], [class*='selected-color'], [class*='selected-colour'], "
                         "[data-selected-value]")
    for node in named:
        yield " ".join(node.css("::text").getall())
    for container in selector.xpath("//*[@class or @id or @data-attribute-code]"):
        if not COLOUR_WORD.search(" ".join(container.xpath("@class | @id | @data-attribute-code").getall())):
            continue
        for node in container.css(", ".join(SELECTED)):
            yield _label(node)


def _label(node: Selector) -> str:
    """A swatch's name: a naming attribute of it or of what it holds (Zara's button
    ``aria-label``), else its text."""
    for element in node.xpath("descendant-or-self::*"):
        found = next((element.attrib[a] for a in LABEL_ATTRIBUTES if element.attrib.get(a)), "")
        if found:
            return found
    return " ".join(node.css("::text").getall())


def _option_colour(product: dict[str, Any], variant_id: str) -> str:
    """The colour option of a Shopify-shaped product JSON, for the variant the URL selects
    (else the first), or its only colour value."""
    options = product.get("options") or []
    names = [o.get("name", "") if isinstance(o, dict) else str(o) for o in options]
    index = next((i for i, name in enumerate(names, start=1) if COLOUR_NAME.match(name)), None)
    if index is None:
        return ""
    variants = [v for v in product.get("variants") or [] if isinstance(v, dict)]
    chosen = next((v for v in variants if str(v.get("id")) == variant_id), variants[0] if variants else {})
    values = options[index - 1].get("values", []) if isinstance(options[index - 1], dict) else []
    return str(chosen.get(f"option{index}") or (values[0] if len(values) == 1 else ""))


def _details(selector: Selector) -> Iterator[str]:
    """The value of a product-details row whose label names the colour: a table row
    ("Farbe | türkis", OTTO), a definition list, Amazon's variation selector."""
    for label in selector.xpath("//tr/*[1] | //dt | //th"):
        if COLOUR_NAME.fullmatch(" ".join(" ".join(label.css("::text").getall()).split()).rstrip(":")):
            value = label.xpath("following-sibling::*[1]")
            yield " ".join(value.css("::text").getall())
    for chosen in selector.css("#variation_color_name .selection, [id*=color_name] .selection"):
        yield " ".join(chosen.css("::text").getall())


def _product_json(selector: Selector, url: str) -> Iterator[str]:
    variant_id = (parse_qs(urlsplit(url).query).get("variant") or [""])[0]
    for script in selector.css("script[type='application/json']::text, script#__NEXT_DATA__::text").getall():
        try:
            data = json.loads(script)
        except ValueError:
            continue
        for node in walk_objects(data):
            if "variants" in node and "options" in node:
                yield _option_colour(node, variant_id)


def _beside_title(selector: Selector) -> Iterator[str]:
    for title in selector.css("h1")[:1]:
        around = " ".join(title.xpath("ancestor::*[2]//text()").getall())[:2000]
        found = _LABELLED_COLOUR.search(around)
        if found:
            yield found.group(1)
        for sibling in title.xpath("following-sibling::*[position() <= 2]"):
            yield " ".join(sibling.css("::text").getall())


def page_colour(selector: Selector, url: str, words: Vocabulary | None = None) -> tuple[str, str]:
    """(text, source) of the colour the page shows for its product, ("", "") if none: a
    selected swatch or option, the page's product JSON, or the text beside the title;
    the first that names a colour."""
    for source, candidates in (("swatch", _checked_inputs(selector)), ("swatch", _selected_swatches(selector)),
                               ("product_json", _product_json(selector, url)), ("details", _details(selector)),
                               ("page_text", _beside_title(selector))):
        for text in candidates:
            if _short(text) and colour_in(_short(text), words):
                return _short(text), source
    return "", ""


def _folded(text: str) -> str:
    return " ".join(fold(text).split())


def _largest(element: Selector) -> str:
    """The largest picture an element names: its zoom or high-resolution address, else the
    widest ``srcset`` candidate, else its source."""
    for attribute in GALLERY_ATTRIBUTES:
        if element.attrib.get(attribute, "").strip():
            return element.attrib[attribute].strip()
    candidates = [part.split() for part in element.attrib.get("srcset", "").split(",") if part.split()]
    widest = max(candidates, key=lambda c: int(c[1][:-1]) if len(c) > 1 and c[1][:-1].isdigit() else 0, default=None)
    return widest[0] if widest else element.attrib.get("src", "").strip()


def _closing_bracket(text: str, start: int) -> int:
    """The index of the bracket closing the one at `start`, skipping quoted strings (H&M's picture
    addresses hold brackets: ``set=source[/5e/...],origin[dam]``); the end of `text` if none."""
    depth, quote = 0, None
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            quote = None if char == quote and text[index - 1] != "\\" else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return index
    return len(text)


def _article_pictures(selector: Selector) -> list[str]:
    """H&M's product page names most of its pictures only in its ``productArticleDetails`` script, one
    block per colour keyed by article code: the selected article's (``'articleCode'``) largest ones."""
    for script in selector.xpath("//script[contains(., 'productArticleDetails')]/text()").getall():
        code = ARTICLE_CODE.search(script)
        block = code and re.search(rf"['\"]{code[1]}['\"]\s*:\s*\{{", script)
        images = block and re.compile(r"['\"]images['\"]\s*:\s*\[").search(script, block.end())
        if images:
            listed = script[images.end() - 1:_closing_bracket(script, images.end() - 1)]
            return ARTICLE_PICTURE.findall(listed)
    return []


def gallery(selector: Selector, product: Product, url: str) -> list[str]:
    """The product page's own gallery, beside what its structured data lists (which is often
    the first picture only): pictures whose alternative text is the product's name (OTTO's
    carousel, Zalando's, H&M's), Amazon's thumbnails and H&M's article script."""
    name = _folded(product.name)
    found = _article_pictures(selector)
    if len(name) >= MIN_NAME:
        for element in selector.xpath("//*[@alt or @data-image-alt or @data-alt]"):
            attributes = element.attrib
            alt = _folded(attributes.get("alt") or attributes.get("data-image-alt") or attributes.get("data-alt") or "")
            if name in alt:
                found.append(_largest(element))
        found += [_largest(thumb) for thumb in selector.css("#altImages img, [class*=imageThumbnail] img")]
    return [urljoin(url, picture) for picture in dict.fromkeys(found) if picture and not picture.startswith("data:")]


def main_picture(selector: Selector, url: str) -> Product | None:
    """A page without structured data, where it is a product page by its address: its main
    picture (og:image, twitter:image, image_src, Amazon's landing image) and its title."""
    if not PRODUCT_PATH.search(urlsplit(url).path):
        return None
    picture = next((found for query in MAIN_PICTURE if (found := selector.css(query).get())), None)
    name = (selector.css("meta[property='og:title']::attr(content)").get()
            or " ".join(selector.css("#productTitle ::text").getall())
            or " ".join(selector.css("h1")[:1].css(" ::text").getall()) or selector.css("title::text").get() or "")
    if not picture or not picture.strip() or not name.strip():
        return None
    return Product(name=" ".join(name.split()), category_text="", colour_text="",
                   pictures=[Picture(urljoin(url, picture.strip()), "", "")], colour_source="")
