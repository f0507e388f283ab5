"""Stores that publish a public ``/products.json`` catalogue (Shopify's format).

Pages through ``/products.json?limit=250&page=N`` until the first empty page. Every image
of a product is offered, each with the colour of the variant that references it (the
image's ``variant_ids``, or a variant whose ``featured_image`` it is); the colour option
is found by its name in common languages ("Color", "Colour", "Farbe", "Couleur",
"Colour (main)"...). The product type is the category text, then the title, then the tags
(a list, or the Admin API's one comma-separated string).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urljoin

import scrapy
from scrapy.http import Response

from crawler.spiders.base import TermSpider
from crawler.structured import COLOUR_NAME, Picture, Product

PAGE_LIMIT = 250


def _colour_option(product: dict[str, Any]) -> tuple[str, list[str]] | None:
    """(variant field, values) of the product's colour option, e.g. ("option2", ["Red", "Blue"])."""
    for index, option in enumerate(product.get("options") or [], start=1):
        if isinstance(option, dict) and COLOUR_NAME.match(str(option.get("name", ""))):
            return f"option{option.get('position') or index}", [str(v) for v in option.get("values") or []]
    return None


def _tags(product: dict[str, Any]) -> list[str]:
    """Tags as a list (products.json) or one comma-separated string (the Admin API's shape)."""
    tags = product.get("tags") or []
    return [t.strip() for t in tags.split(",")] if isinstance(tags, str) else [str(t) for t in tags]


def _lone_values(product: dict[str, Any]) -> list[str]:
    """The values of options with a single value, less Shopify's placeholder "Default Title"."""
    values = []
    for option in product.get("options") or []:
        found = option.get("values") if isinstance(option, dict) else None
        if isinstance(found, list) and len(found) == 1 and str(found[0]).strip().lower() != "default title":
            values.append(str(found[0]))
    return values


def catalogue_product(product: dict[str, Any], page_url: str) -> Product:
    """One products.json product: every image, each with its variant's colour when known."""
    option = _colour_option(product)
    variants = [v for v in product.get("variants") or [] if isinstance(v, dict)]
    colour_of_variant = {v.get("id"): str(v.get(option[0]) or "") for v in variants} if option else {}
    featured = {}
    for variant in variants:
        image = variant.get("featured_image")
        if isinstance(image, dict) and option:
            featured.setdefault(image.get("id") or image.get("src"), colour_of_variant.get(variant.get("id"), ""))
    fallback, source = _product_colour(product, option)
    pictures = []
    for image in product.get("images") or []:
        if not isinstance(image, dict) or not image.get("src"):
            continue
        colours = [colour_of_variant.get(v, "") for v in image.get("variant_ids") or []]
        colour = next((c for c in colours if c), "") or featured.get(image.get("id")) \
            or featured.get(image.get("src"))
        url = urljoin(page_url, str(image["src"]))
        pictures.append(Picture(url, colour, "variant") if colour else Picture(url, fallback, source))
    return Product(name=str(product.get("title") or ""), category_text=str(product.get("product_type") or ""),
                   colour_text=fallback, pictures=pictures, colour_source=source)


def _product_colour(product: dict[str, Any], option: tuple[str, list[str]] | None) -> tuple[str, str]:
    """(text, source) of the colour the whole product has: its colour option's only value
    (several: only a variant tells which), else a lone option value (Shopify names a single
    variant's option "Title"), else its tags."""
    if option:
        return (option[1][0], "variant") if len(option[1]) == 1 else ("", "")
    if _lone_values(product):
        return " ".join(_lone_values(product)), "variant"
    return " ".join(_tags(product)), "tags" if _tags(product) else ""


class CatalogueSpider(TermSpider):
    name = "catalogue"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.start_urls:
            yield self._page(url, 1)

    def _page(self, base: str, page: int) -> scrapy.Request:
        return scrapy.Request(urljoin(base, f"/products.json?limit={PAGE_LIMIT}&page={page}"), callback=self.parse,
                              cb_kwargs={"base": base, "page": page})

    def parse(self, response: Response, base: str, page: int) -> Iterator[Any]:
        try:
            products = json.loads(response.text).get("products") or []
        except (ValueError, AttributeError):
            self.logger.warning("not a products.json catalogue: %s", response.url)
            self.drop("parse_error")
            return
        for product in products:
            try:
                found = [catalogue_product(product, response.url)]
            except (ValueError, TypeError, AttributeError):
                self.drop("parse_error")
                continue
            yield from self.product_items(found, response.url, context=" ".join(_tags(product)))
        if products:
            yield self._page(base, page + 1)
