"""Products in a page's structured data: JSON-LD, microdata, RDFa and OpenGraph.

extruct reads every syntax; JSON-LD blocks go through a lenient pass first, because real
pages carry JavaScript and HTML comments, CDATA wrappers, control characters, trailing
commas or braces, unescaped quotes and invalid escapes, and a block that strict JSON
rejects would otherwise lose every product in it. A product is found wherever it is
nested (``@graph``, ``mainEntity``, ``ItemList``/``itemListElement``,
``ProductGroup``/``hasVariant``, ``isVariantOf``, ``@id`` references, full-IRI types),
and each of its images carries the colour of the variant that names it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import json_repair
from extruct.jsonld import JsonLdExtractor
from extruct.opengraph import OpenGraphExtractor
from extruct.rdfa import RDFaExtractor
from extruct.uniform import _umicrodata_microformat, _uopengraph
from extruct.utils import parse_xmldom_html
from extruct.w3cmicrodata import MicrodataExtractor

PRODUCT_TYPES = frozenset({"Product", "ProductGroup", "IndividualProduct", "ProductModel", "SomeProducts"})
BREADCRUMB_TYPE = "BreadcrumbList"
# publishers write types in any case ("product": Bestseller); one spelling for each
_TYPE_SPELLING = {kind.lower(): kind for kind in PRODUCT_TYPES | {BREADCRUMB_TYPE, "ListItem", "Offer"}}
# non-schema.org properties shops use for Google's product category (a number or a path)
GOOGLE_CATEGORY = ("googleProductCategory", "google_product_category", "g:google_product_category")
OPENGRAPH_PRODUCT_TYPES = frozenset({"product", "og:product", "product.item", "product.group"})
# "Color", "Colour", "Farbe", "Couleur", ... also with trailing text ("Colour (main)")
COLOUR_WORDS = r"colou?re?s?|farbe|couleur|kleur|colore|färg|farge|farve|väri|cor|kolor|barva|szín|renk|цвет|色"
COLOUR_NAME = re.compile(rf"^\s*({COLOUR_WORDS})\b", re.IGNORECASE)
_SCHEMA_PREFIX = re.compile(r"^https?://schema\.org/")
_CDATA = re.compile(r"(?:/\*\s*)?(?:<!\[CDATA\[|\]\]>)(?:\s*\*/)?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_HTML_COMMENT = re.compile(r"<!--|-->")

log = logging.getLogger(__name__)


@dataclass
class Picture:
    url: str
    colour_text: str  # the colour the data gives this picture (its variant's, else its product's)
    colour_source: str = ""  # where that text came from: structured_data, variant, offer, swatch, ...


@dataclass
class Product:
    name: str
    category_text: str
    colour_text: str
    pictures: list[Picture] = field(default_factory=list)
    url: str = ""  # the product's own page as its data names it (``url``, ``@id``), if it does
    colour_source: str = "structured_data"


@dataclass
class PageData:
    products: list[Product]
    parse_errors: int  # structured-data blocks that could not be read at all
    breadcrumb: str = ""  # the page's BreadcrumbList, "Women > Shoes > Boots"
    structured: bool = True  # whether the page carries any structured data at all
    language: str = ""  # as the page declares it (``<html lang>``), "de-DE"


def lenient_json(text: str) -> Any:
    """A JSON-LD block as real pages write it; ValueError when nothing sensible is left."""
    try:
        return json.loads(text, strict=False)
    except ValueError:
        pass
    cleaned = _CONTROL.sub(" ", _HTML_COMMENT.sub("", _CDATA.sub("", text))).strip()
    data = json_repair.loads(cleaned)
    if isinstance(data, list):
        data = [node for node in data if isinstance(node, dict)]
    if not data or not isinstance(data, (dict, list)):
        raise ValueError("no JSON object in the block")
    return data


class LenientJsonLd(JsonLdExtractor):
    """extruct's JSON-LD extractor, one block at a time, each block read leniently; a block
    that cannot be read is counted and skipped, never costing the page's other blocks."""

    def __init__(self) -> None:
        self.errors = 0

    def _extract_items(self, node: Any) -> Iterator[dict[str, Any]]:
        try:
            data = lenient_json(node.xpath("string()"))
        except ValueError:
            self.errors += 1
            return
        yield from data if isinstance(data, list) else [data]


def _short(name: str) -> str:
    return _SCHEMA_PREFIX.sub("", name)


def normalise(value: Any) -> Any:
    """schema.org data in one shape whatever the syntax: short keys and types (RDFa and
    full-IRI JSON-LD give ``https://schema.org/name``), ``@value`` wrappers removed."""
    if isinstance(value, list):
        items = [normalise(v) for v in value]
        return items[0] if len(items) == 1 else items
    if not isinstance(value, dict):
        return value
    if set(value) <= {"@value", "@language", "@type"} and "@value" in value:
        return value["@value"]
    result = {_short(k): normalise(v) for k, v in value.items()}
    if "@type" in result:
        kinds = result["@type"] if isinstance(result["@type"], list) else [result["@type"]]
        result["@type"] = [_TYPE_SPELLING.get(_short(str(k)).lower(), _short(str(k))) for k in kinds]
    return result


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _text(value: Any) -> str:
    """Text of a property that may be a string, a list, or a thing with a name."""
    parts = []
    for item in _as_list(value):
        if isinstance(item, dict):
            item = item.get("name") or item.get("value") or ""
        if isinstance(item, (str, int, float)):
            parts.append(str(item))
    return " ".join(parts).strip()


def walk_objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in `value`, however deep in lists and objects."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            yield item
            stack.extend(item.values())


class _Graph:
    """All nodes of a page, with ``@id`` references resolved to the node they name."""

    def __init__(self, roots: list[Any]) -> None:
        self.roots = roots
        self.by_id: dict[str, dict[str, Any]] = {}
        for node in walk_objects(roots):
            key = node.get("@id")
            if isinstance(key, str) and len(node) > 1:
                self.by_id.setdefault(key, node)


    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"@id"}:
            return self.by_id.get(value["@id"], value)
        return value

    def products(self) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Every product node, once, with the ProductGroup it is a variant of (if any)."""
        nodes: dict[int, dict[str, Any]] = {}
        for node in walk_objects(self.roots):
            node = self.resolve(node)
            if isinstance(node, dict) and set(_as_list(node.get("@type"))) & PRODUCT_TYPES:
                nodes.setdefault(id(node), node)
        group_of: dict[int, dict[str, Any]] = {}
        for node in nodes.values():
            for variant in _as_list(node.get("hasVariant")):
                variant = self.resolve(variant)
                if isinstance(variant, dict):
                    group_of[id(variant)] = node
        for node in nodes.values():
            parent = self.resolve(node.get("isVariantOf")) or group_of.get(id(node))
            yield node, parent if isinstance(parent, dict) else None


def _image_urls(value: Any, graph: _Graph) -> list[str]:
    urls = []
    for image in _as_list(value):
        image = graph.resolve(image)
        if isinstance(image, dict):
            image = image.get("url") or image.get("contentUrl") or image.get("@id")
            image = image[0] if isinstance(image, list) and image else image
        if isinstance(image, str) and image.strip():
            urls.append(image.strip())
    return urls


def _colour(node: dict[str, Any]) -> tuple[str, str]:
    """A product's colour text and where it is: its ``color``, an ``additionalProperty``
    named like a colour, or the ``color`` its offer or offered item carries."""
    if node.get("color"):
        return _text(node["color"]), "structured_data"
    for prop in _as_list(node.get("additionalProperty")):
        if isinstance(prop, dict) and COLOUR_NAME.match(_text(prop.get("name"))):
            return _text(prop.get("value")), "structured_data"
    for offer in _as_list(node.get("offers")):
        offered = offer.get("itemOffered") if isinstance(offer, dict) else None
        for holder in (offer, offered):
            if isinstance(holder, dict) and holder.get("color"):
                return _text(holder["color"]), "offer"
    return "", ""


def _category(node: dict[str, Any]) -> str:
    """Its ``category`` (text, a path, a thing with a name), else Google's product category."""
    return _text(node.get("category")) or next((_text(node[key]) for key in GOOGLE_CATEGORY if node.get(key)), "")


def _own_url(node: dict[str, Any]) -> str:
    for key in ("url", "@id"):
        value = node.get(key)
        if isinstance(value, str) and value.strip() and not value.startswith("_:") and "#" not in value:
            return value.strip()
    return ""


def breadcrumb(roots: list[Any]) -> str:
    """The page's breadcrumb trail as text, its items in their ``position`` order."""
    for node in walk_objects(roots):
        if BREADCRUMB_TYPE in _as_list(node.get("@type")):
            items = [i for i in _as_list(node.get("itemListElement")) if isinstance(i, dict)]
            items.sort(key=lambda i: float(i["position"]) if str(i.get("position", "")).isdigit() else 0.0)
            names = [_text(i.get("name")) or _text(i.get("item")) for i in items]
            return " > ".join(name for name in names if name)
    return ""


def products_from_nodes(roots: list[Any]) -> list[Product]:
    """Products in normalised schema.org nodes: a ProductGroup's variants each keep their
    own pictures and colour; the group's remaining pictures keep the group's colour."""
    graph = _Graph(roots)
    found = list(graph.products())
    claimed: dict[int, set[str]] = {}
    products = []
    for node, group in found:
        own = _image_urls(node.get("image"), graph)
        if group is not None:
            claimed.setdefault(id(group), set()).update(own)
        inherited = group or {}
        colour, source = _colour(node)
        if not colour:
            colour, source = _colour(inherited)
        products.append((node, Product(
            name=_text(node.get("name")) or _text(inherited.get("name")),
            category_text=_category(node) or _category(inherited),
            colour_text=colour, colour_source=source,
            pictures=[Picture(url, "") for url in own], url=_own_url(node) or _own_url(inherited))))
    result = []
    for node, product in products:
        taken = claimed.get(id(node), set())
        product.pictures = [p for p in product.pictures if p.url not in taken]
        for picture in product.pictures:
            picture.colour_text, picture.colour_source = product.colour_text, product.colour_source
        if product.pictures or not taken:  # a group whose variants took every picture is no product of its own
            result.append(product)
    return result


def _opengraph_products(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenGraph product pages as schema.org-shaped nodes."""
    nodes = []
    for item in items:
        if str(item.get("@type", "")).lower() not in OPENGRAPH_PRODUCT_TYPES:
            continue
        nodes.append({"@type": ["Product"], "name": item.get("og:title", ""),
                      "image": item.get("og:image") or item.get("og:image:url"),
                      "color": item.get("product:color", ""), "category": item.get("product:category", "")})
    return nodes


def _with_opengraph(products: list[Product], tree: Any) -> list[Product]:
    """OpenGraph fills in where the other syntaxes leave a page short: it is the product when
    none was found, and its pictures are the lone product's when that one has none (Magento
    publishes its name and price in microdata but its pictures only in og:image)."""
    opengraph = _uopengraph(OpenGraphExtractor().extract_items(tree), with_og_array=True)
    found = products_from_nodes([normalise(node) for node in _opengraph_products(opengraph)])
    if not products:
        return found
    if len(products) == 1 and not products[0].pictures and found:
        lone = products[0]
        if not lone.colour_text:
            lone.colour_text, lone.colour_source = found[0].colour_text, found[0].colour_source
        lone.pictures = [Picture(p.url, lone.colour_text, lone.colour_source) for p in found[0].pictures]
    return products


def page_products(html: bytes | str, url: str) -> PageData:
    """Every product the page's structured data describes, from every syntax it uses.

    Microdata and RDFa run only where the page has their attributes (RDFa parsing is the
    slow one); OpenGraph, which describes one product thinly, fills in what they leave out.
    """
    tree = parse_xmldom_html(html, encoding="UTF-8")
    jsonld = LenientJsonLd()
    nodes: list[Any] = list(jsonld.extract_items(tree, base_url=url))
    errors = jsonld.errors
    extractors = (
        ("//*[@itemscope]", lambda: _umicrodata_microformat(MicrodataExtractor().extract_items(tree, url),
                                                           schema_context="http://schema.org")),
        ("//*[@typeof]", lambda: RDFaExtractor().extract_items(tree, base_url=url)),
    )
    for marker, extract in extractors:
        if tree.xpath(marker):
            try:
                nodes.extend(extract())
            except Exception:  # extruct's parsers raise anything; one syntax never costs another
                log.debug("structured data not readable on %s", url, exc_info=True)
                errors += 1
    normalised = [normalise(node) for node in nodes]
    products = products_from_nodes(normalised)
    opengraph = bool(tree.xpath("//meta[starts-with(@property, 'og:')]"))
    if opengraph:
        products = _with_opengraph(products, tree)
    for product in products:
        product.url = urljoin(url, product.url) if product.url else ""
        for picture in product.pictures:
            picture.url = urljoin(url, picture.url)
    language = (tree.xpath("string(/html/@lang)") or "").strip()
    return PageData(products, errors, breadcrumb(normalised), structured=bool(nodes or errors or products),
                    language=language)
