"""Writes the crawl-recall corpus: product pages in the shapes real storefronts publish.

    .venv/bin/python bench/crawl_corpus/build.py     # rewrites bench/crawl_corpus/site/

Shapes: Shopify Dawn (ProductGroup with colour variants, " - " variant names), WooCommerce
(@graph with a BreadcrumbList, escaped slashes), Magento 2 (microdata name, pictures only
in og:image), PrestaShop microdata (additionalProperty Color, thumbnails), Drupal RDFa, and
single JSON-LD blocks each carrying one quirk real pages have. Colours are the words shops
use ("Navy", "Burgundy", "Heather Grey"); each picture's true label is in its file name
(``<category>-<colour>-<seed>.jpg``, drawn by tests/sites.py's CDN), and ``expected.json``
lists every product with its pictures. Seeds are chosen so no two pictures are near
duplicates: recall measures extraction, not the duplicate filter.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np

from shoplens.imaging import colour_hash, decode_image, perceptual_hash

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root: the loopback CDN lives in tests/sites.py
from tests.sites import cdn_picture  # noqa: E402

SITE = HERE / "site"

# (shop's colour word, the colour the picture is drawn in)
COLOUR_WORDS = [
    ("Burgundy", "red"), ("Cherry Red", "red"), ("Scarlet", "red"), ("Bordeaux", "red"), ("Red", "red"),
    ("Navy", "blue"), ("Cobalt", "blue"), ("Sky Blue", "blue"), ("Denim", "blue"), ("Royal Blue", "blue"),
    ("Black", "black"), ("Jet Black", "black"), ("Onyx", "black"),
    ("Ivory", "white"), ("Off-White", "white"), ("Optic White", "white"), ("Snow", "white"),
    ("Olive", "green"), ("Forest Green", "green"), ("Emerald", "green"), ("Bottle Green", "green"),
    ("Charcoal", "grey"), ("Heather Grey", "grey"), ("Slate Grey", "grey"), ("Silver", "grey"),
    ("Blush", "pink"), ("Hot Pink", "pink"), ("Fuchsia", "pink"), ("Dusty Pink", "pink"),
    ("Camel", "brown"), ("Chocolate", "brown"), ("Cognac", "brown"), ("Tan", "brown"),
    ("Mustard", "yellow"), ("Lemon", "yellow"), ("Gold", "yellow"),
    ("Plum", "purple"), ("Lilac", "purple"), ("Lavender", "purple"), ("Aubergine", "purple"),
    ("Coral", "orange"), ("Tangerine", "orange"), ("Burnt Orange", "orange"),
]
GARMENTS = [("dress", "Dress", "Dresses"), ("shirt", "Oxford Shirt", "Shirts"),
            ("pullover", "Knit Jumper", "Knitwear"), ("pants", "Chino Trousers", "Trousers"),
            ("skirt", "Midi Skirt", "Skirts"), ("t-shirt", "Crew Tee", "T-Shirts")]
DRAWN = {"t-shirt": "tee"}
QUIRKS = ["js_comment", "cdata", "html_comment", "control", "trailing_comma", "trailing_brace", "quotes", "escape"]


class Pictures:
    """Picture names with seeds redrawn until no earlier picture is a near duplicate."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.hashes = rng, np.zeros((0, 2), dtype=np.uint64)

    def new(self, category: str, colour: str) -> str:
        while True:
            name = f"{DRAWN.get(category, category)}-{colour}-{self.rng.getrandbits(30)}.jpg"
            image = decode_image(cdn_picture(name))
            row = np.array([[perceptual_hash(image), colour_hash(image)]], dtype=np.uint64)
            if not len(self.hashes) or not ((np.bitwise_count(self.hashes ^ row) <= 6).all(axis=1)).any():
                self.hashes = np.vstack([self.hashes, row])
                return name


def _page(title: str, head: str, body: str) -> str:
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n{head}\n"
            f"</head>\n<body>\n{body}\n</body></html>\n")


def _ld(data: object) -> str:
    return f"<script type=\"application/ld+json\">{json.dumps(data)}</script>"


def dawn(slug: str, name: str, variants: list[tuple[str, str]]) -> str:
    images = [f"{{cdn}}/cdn/shop/files/{picture}?v=1704900000" for _, picture in variants]
    has_variant = [{"@id": f"{{shop}}/products/{slug}?variant={i}#variant", "@type": "Product", "image": image,
                    "name": f"{name} - {word} / {size}", "sku": f"{slug}-{i}-{size}",
                    "offers": {"@type": "Offer", "price": "25.00", "priceCurrency": "USD",
                               "availability": "http://schema.org/InStock"}}
                   for i, ((word, _), image) in enumerate(zip(variants, images, strict=True)) for size in ("S", "M")]
    data = {"@context": "http://schema.org/", "@type": "ProductGroup", "name": name, "productGroupID": slug,
            "url": f"{{shop}}/products/{slug}", "image": images, "brand": {"@type": "Brand", "name": "Acme"},
            "variesBy": ["https://schema.org/color", "https://schema.org/size"], "hasVariant": has_variant}
    head = (f"<meta property=\"og:type\" content=\"product\"><meta property=\"og:title\" content=\"{name}\">"
            f"<meta property=\"og:image\" content=\"{images[0]}\">")
    return _page(name, head, f"<product-info><h1>{name}</h1></product-info>\n{_ld(data)}")


def woocommerce(slug: str, name: str, category: str, picture: str) -> str:
    data = {"@context": "https://schema.org/", "@graph": [
        {"@type": "BreadcrumbList", "itemListElement": [
            {"@type": "ListItem", "position": 1, "item": {"name": "Home", "@id": "{shop}"}},
            {"@type": "ListItem", "position": 2, "item": {"name": category, "@id": f"{{shop}}/c/{category.lower()}/"}},
            {"@type": "ListItem", "position": 3, "item": {"name": name, "@id": f"{{shop}}/product/{slug}/"}}]},
        {"@type": "Product", "@id": f"{{shop}}/product/{slug}/#product", "name": name,
         "url": f"{{shop}}/product/{slug}/", "image": f"{{cdn}}/wp-content/uploads/2024/05/{picture}",
         "sku": slug, "offers": [{"@type": "Offer", "price": "49.00", "priceCurrency": "EUR",
                                  "availability": "http://schema.org/InStock"}]}]}
    script = json.dumps(data).replace("/", "\\/")
    body = (f"<div class=\"product type-product\"><h1 class=\"product_title entry-title\">{name}</h1></div>\n"
            f"<script type=\"application/ld+json\">{script}</script>")
    return _page(name, "", body)


def magento(name: str, picture: str) -> str:
    head = (f"<meta property=\"og:type\" content=\"product\" /><meta property=\"og:title\" content=\"{name}\" />"
            f"<meta property=\"og:image\" content=\"{{cdn}}/media/catalog/product/cache/d3b1/{picture}\" />")
    body = (f"<main id=\"maincontent\" class=\"page-main\" itemtype=\"http://schema.org/Product\" "
            f"itemscope=\"itemscope\">"
            f"<div class=\"product-info-main\"><h1 class=\"page-title\"><span class=\"base\" "
            f"data-ui-id=\"page-title-wrapper\" itemprop=\"name\">{name}</span></h1>"
            f"<div class=\"price-box\" itemprop=\"offers\" itemscope itemtype=\"http://schema.org/Offer\">"
            f"<meta itemprop=\"price\" content=\"59\" /><meta itemprop=\"priceCurrency\" content=\"USD\" /></div>"
            f"<div class=\"value\" itemprop=\"sku\">M-{picture[:8]}</div></div></main>")
    return _page(name, head, body)


def prestashop(name: str, word: str, pictures: list[str]) -> str:
    thumbs = "".join(f"<li><img src=\"{{cdn}}/img/p/{picture}\" itemprop=\"image\" width=\"80\"></li>"
                     for picture in pictures)
    body = (f"<div itemscope itemtype=\"https://schema.org/Product\"><h1 itemprop=\"name\">{name}</h1>"
            f"<img id=\"bigpic\" itemprop=\"image\" src=\"{{cdn}}/img/p/{pictures[0]}\">"
            f"<ul id=\"thumbs_list_frame\">{thumbs}</ul>"
            f"<div itemprop=\"additionalProperty\" itemscope itemtype=\"https://schema.org/PropertyValue\">"
            f"<meta itemprop=\"name\" content=\"Color\"><meta itemprop=\"value\" content=\"{word}\"></div></div>")
    return _page(name, "", body)


def rdfa(name: str, word: str, category: str, picture: str) -> str:
    body = (f"<article vocab=\"http://schema.org/\" typeof=\"Product\"><h1 property=\"name\">{name}</h1>"
            f"<img property=\"image\" src=\"{{cdn}}/sites/default/files/{picture}\">"
            f"<span property=\"color\">{word}</span><span property=\"category\">{category}</span></article>")
    return _page(name, "", body)


def quirky(quirk: str, name: str, word: str, category: str, picture: str) -> str:
    text = json.dumps({"@context": "https://schema.org", "@type": "Product", "name": name, "color": word,
                       "category": category, "image": f"{{cdn}}/q/{picture}", "description": "Soft cotton."})
    text = {
        "js_comment": lambda t: "// theme: product-schema\n" + t.replace('"name"', '/* title */ "name"'),
        "cdata": lambda t: f"//<![CDATA[\n{t}\n//]]>",
        "html_comment": lambda t: f"<!--\n{t}\n-->",
        "control": lambda t: t.replace("Soft cotton.", "Soft\tcotton,\nwashable\x0b."),
        "trailing_comma": lambda t: t[:-1] + ",}",
        "trailing_brace": lambda t: t + "}",
        "quotes": lambda t: t.replace("Soft cotton.", 'The "everyday" fit'),
        "escape": lambda t: t.replace("Soft cotton.", "100\\% cotton \\d"),
    }[quirk](text)
    return _page(name, f"<script type=\"application/ld+json\">\n{text}\n</script>", f"<h1>{name}</h1>")


def build(seed: int = 12) -> list[dict]:
    rng = random.Random(seed)
    pictures = Pictures(rng)
    words = COLOUR_WORDS * 3
    rng.shuffle(words)
    products, files = [], {}

    def product(path: str, category: str, pictures_with_colours: list[tuple[str, str]]) -> None:
        products.append({"page": path, "category": category,
                         "pictures": [{"name": p, "colour": c} for p, c in pictures_with_colours]})

    for index in range(48):
        category, noun, plural = GARMENTS[index % len(GARMENTS)]
        word, colour = words.pop()
        theme = ("dawn", "woocommerce", "magento", "prestashop", "rdfa", "quirks")[index % 6]
        slug = f"{theme}-{index:02d}"
        if theme == "dawn":
            other_word, other_colour = words.pop()
            first, second = pictures.new(category, colour), pictures.new(category, other_colour)
            path = f"products/{slug}"
            files[path] = dawn(slug, f"Everyday {noun}", [(word, first), (other_word, second)])
            product(path, category, [(first, colour), (second, other_colour)])
        elif theme == "woocommerce":
            picture = pictures.new(category, colour)
            path = f"product/{slug}/index"
            files[path] = woocommerce(slug, f"{word} {noun}", plural, picture)
            product(f"product/{slug}/", category, [(picture, colour)])
        elif theme == "magento":
            picture = pictures.new(category, colour)
            path = f"{slug}.html"
            files[path] = magento(f"{noun} {word}", picture)
            product(path, category, [(picture, colour)])
        elif theme == "prestashop":
            both = [pictures.new(category, colour), pictures.new(category, colour)]
            path = f"shop/{slug}"
            files[path] = prestashop(f"Printed {noun}", word, both)
            product(path, category, [(p, colour) for p in both])
        elif theme == "rdfa":
            picture = pictures.new(category, colour)
            path = f"node/{slug}"
            files[path] = rdfa(f"Classic {noun}", word, plural, picture)
            product(path, category, [(picture, colour)])
        else:
            picture = pictures.new(category, colour)
            path = f"lookbook/{slug}"
            files[path] = quirky(QUIRKS[(index // 6) % len(QUIRKS)], f"Weekend {noun}", word, plural, picture)
            product(path, category, [(picture, colour)])
    for path, text in files.items():
        target = SITE / (path if path.endswith(".html") else f"{path}.html")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    links = "\n".join(f"<url><loc>{{shop}}/{p['page']}</loc></url>" for p in products)
    (SITE / "sitemap.xml").write_text("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns="
                                      f"\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n{links}\n</urlset>\n")
    (SITE / "robots.txt").write_text("User-agent: *\nDisallow: /cart\nSitemap: {shop}/sitemap.xml\n")
    (SITE / "index.html").write_text(_page("Corpus shop", "", "<a href=\"/cart\">Cart</a>"))
    (HERE / "expected.json").write_text(json.dumps(products, indent=1) + "\n")
    return products


if __name__ == "__main__":
    found = build()
    print(f"wrote {len(found)} product pages, {sum(len(p['pictures']) for p in found)} pictures to {SITE}")
