"""Reading products from structured data, colour names and colour-aware near-duplicates,
on the fixture shop's pages (the markup real storefronts publish)."""

import random

import numpy as np
import pytest

from crawler.seen import PictureHashes, is_near
from crawler.structured import lenient_json, page_products
from crawler.terms import match, terms_from_lists
from shoplens import ShopLensError
from shoplens.imaging import colour_hash, perceptual_hash
from shoplens.sample import draw_garment
from shoplens.vocab import base_colour
from tests.test_crawler_real_shops import FIXTURE

BASE = "http://127.0.0.1:8000"


def products_of(page: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    data = page_products((FIXTURE / page).read_bytes(), f"{BASE}/{page}")
    return [(p.name, p.category_text, [(pic.url.rsplit("/", 1)[-1], pic.colour_text) for pic in p.pictures])
            for p in data.products]


def test_every_json_ld_quirk_is_read_and_an_unreadable_block_is_counted():
    data = page_products((FIXTURE / "blogs/news/lookbook.html").read_bytes(), BASE)
    names = sorted(p.name for p in data.products)
    assert names == sorted(["Red Wrap Dress", "Blue Oxford Shirt", "Grey Jogger Pants", "White Linen Shirt",
                            "Black Midi Skirt", "Green Cargo Pants", 'The "Classic" Red Pullover',
                            "Blue Denim Skirt", "White Poplin Dress"])
    assert data.parse_errors == 1  # the unrendered {{ product | json }}
    assert lenient_json('{"a": [1, 2,],}') == {"a": [1, 2]}
    assert lenient_json('/*<![CDATA[*/{"a": 1}/*]]>*/') == {"a": 1}


def test_products_are_found_wherever_they_are_nested():
    assert sorted(products_of("collections/summer.html")) == [
        ("Black Sheath Dress", "", [("dress-black-803.jpg", "")]),  # ItemList / ListItem
        ("Blue Chino Pants", "", [("pants-blue-802.jpg", "")]),
        ("Everyday Shirt", "", [("shirt-blue-805.jpg", "Navy")]),  # ProductGroup, variants by @id in @graph
        ("Everyday Shirt", "", [("shirt-white-806.jpg", "Ivory")]),
        ("Knit Pullover - Grey", "Pullovers", [("pullover-grey-804.jpg", "Heather Grey")]),  # isVariantOf
        ("Red Pleated Skirt", "", [("skirt-red-801.jpg", "")]),  # mainEntity, ImageObject
    ]


def test_variants_keep_their_own_pictures_and_colours():
    tee = products_of("products/basic-tee.html")
    pictures = sorted((pic, name) for name, _, pics in tee for pic, _ in pics)
    assert [p for p, _ in pictures] == ["tee-black-101.jpg?v=1704900000", "tee-black-101.jpg?v=1704900000",
                                        "tee-grey-103.jpg?v=1704900000", "tee-white-102.jpg?v=1704900000"]
    assert dict(pictures)["tee-grey-103.jpg?v=1704900000"] == "Basic Tee"  # the group keeps the unclaimed one


def test_microdata_rdfa_and_opengraph_pages():
    assert products_of("index.php") == [("Printed Chiffon Dress", "", [
        ("dress-red-401.jpg", "Burgundy"), ("dress-red-401.jpg", "Burgundy"), ("dress-red-402.jpg", "Burgundy")])]
    assert products_of("rdfa/pleated-skirt.html") == [("Pleated Skirt", "Skirts",
                                                       [("skirt-green-501.jpg", "Forest Green")])]
    assert products_of("og/black-pullover.html") == [("Black Merino Pullover", "", [
        ("pullover-black-601.jpg", "Black"), ("pullover-black-602.jpg", "Black")])]
    # Magento: name in microdata, picture only in og:image
    assert products_of("nora-dress.html") == [("Blue Nora Dress", "", [("dress-blue-301.jpg", "")])]


def label(terms, category: str, colour: str, name: str = "", context: str = "", language: str = "") -> tuple | None:
    found = match(terms, [category, context, name], colour, name, language=language)
    return None if isinstance(found, str) else (found.term.category, found.term.colour, found.colour_from)


def test_shopify_variant_names_match_without_crashing():
    terms = terms_from_lists(["t-shirt", "dress"], ["black", "red"])
    assert label(terms, "", "", "Basic Tee - Black / M") == ("t-shirt", "black", "name")
    assert label(terms, "Dresses", "Bordeaux", "Wickelkleid - Bordeaux") == ("dress", "red", "colour")
    assert label(terms, " - ", " - ", " - ") is None


def test_categories_are_a_taxonomy_in_the_languages_shops_write():
    terms = terms_from_lists(["shoes", "t-shirt", "dress", "shirt", "shorts", "pullover", "skirt"],
                             ["black", "red", "white", "blue", "brown"])
    assert label(terms, "", "Black", "Over-the-Knee Boots") == ("shoes", "black", "colour")
    assert label(terms, "Ankle boots", "", "Chelsea - Schwarz") == ("shoes", "black", "name")
    assert label(terms, "", "أسود", "تيشيرت بشعار") == ("t-shirt", "black", "colour")
    assert label(terms, "", "", "Sommerkleid mit Blumenmuster - rot") == ("dress", "red", "name")
    assert label(terms, "", "", "オーバーサイズTシャツ ホワイト") == ("t-shirt", "white", "name")
    assert label(terms, "", "", "Kırmızı Gömlek") == ("shirt", "red", "name")
    assert label(terms, "", "", "ROBE NOIRE") == ("dress", "black", "name")
    assert label(terms, "", "", "Shirt Dress - Blue") == ("dress", "blue", "name")  # the head noun is last
    assert label(terms, "", "Noir", "Short en jean", language="fr-FR") == ("shorts", "black", "colour")  # or first
    assert label(terms, "", "Noir", "", "HM.com > Homme > Shorts > Jeans Shorts") == ("shorts", "black", "colour")
    # H&M France: English crumbs on a French page; the broader crumb says which of the two words is the garment
    with_pants = terms_from_lists(["shorts", "pants", "dress", "shirt"], ["black"])
    assert label(with_pants, "", "Noir", "Short en jean Hybrid Regular", "HM.com > Homme > Shorts > Jeans Shorts",
                 language="fr-FR") == ("shorts", "black", "colour")
    assert label(with_pants, "", "Noir", "", "Femme > Robes > Robe chemise", language="fr") == ("dress", "black",
                                                                                               "colour")
    assert label(with_pants, "", "Noir", "", "Homme > Nouveautés > Short en jean", language="fr") == ("shorts",
                                                                                                    "black", "colour")
    assert label(terms, "", "schwarz, marine, olivgrün", "3er-Pack T-Shirts") == ("t-shirt", "black", "colour")
    # Amazon.de's boots, named in Italian by their brand: cuoio (leather) is a brown
    assert label(terms, "", "3000 Cuoio Kombi", "Chelsea Boots") == ("shoes", "brown", "colour")
    assert match(terms, ["Boots"], "", "Boots") == "no_colour"  # a category of the terms, but no colour said
    assert label(terms, "", "", "Kurze Hose Blau") == ("shorts", "blue", "name")  # the longer match wins
    assert label(terms, "", "", "Lederhandschuhe Schwarz") is None  # gloves, not shoes
    # no garment word in the name: the category, Google's category number or the breadcrumb says
    assert label(terms, "", "Red", "OFLEKI", "Home > Women > Shoes > Boots") == ("shoes", "red", "colour")
    assert label(terms, "2271", "Red", "OFLEKI") == ("dress", "red", "colour")
    assert label(terms_from_lists(["plate"], []), "", "", "Dinner Plates, set of 4") == ("plate", None, "")


# H&M's product page as it ships (reduced): the gallery's first picture in the markup, a secondary one
# behind a local thumbnail with its address in data-fullscreen, the rest only in the article script, one
# block per colour, whose picture addresses hold brackets; and a WooCommerce gallery image
HM_PAGE = """<html><body>
<figure class="pdp-secondary-image pdp-image"><img alt="Short en jean Hybrid Regular - Noir - HOMME | H&amp;M FR 2"
 src="./short_files/hmgoepprod(3)" class="product-detail-thumbnail-image"
 data-fullscreen="//lp2.hm.com/hmgoepprod?set=source[/1a/aa/front.jpg],origin[dam],type[DESCRIPTIVESTILLLIFE]"></figure>
<div class="woocommerce-product-gallery__image"><a href="/wp/short-large.jpg"><img src="/wp/short-600x600.jpg"
 alt="Short en jean Hybrid Regular back" data-large_image="/wp/short-large.jpg"></a></div>
<script>
    var isDesktop = window.innerWidth > 1024;
    var productArticleDetails = {
    'alternate': 'Short en jean Hybrid Regular - {alternatecolor} - HOMME | H&M FR','articleCode':'1045436003',
        '1045436003': {
            'name': 'Noir',
            'images':[
                {
                    'thumbnail': '//lp2.hm.com/hmgoepprod?set=source[/1a/aa/front.jpg],res[s]',
                    'image': isDesktop ? '//lp2.hm.com/hmgoepprod?set=source[/1a/aa/front.jpg],res[m]' : '//x',
                    'fullscreen': isDesktop ? '//lp2.hm.com/hmgoepprod?set=source[/1a/aa/front.jpg],res[l]' : '//x',
                    'zoom': isDesktop ? '//lp2.hm.com/hmgoepprod?set=source[/1a/aa/front.jpg],res[xl]' : '//x'
                },
                {
                    'thumbnail': '//lp2.hm.com/hmgoepprod?set=source[/2b/bb/back.jpg],res[s]',
                    'zoom': isDesktop ? '//lp2.hm.com/hmgoepprod?set=source[/2b/bb/back.jpg],res[xl]' : '//x'
                }
            ],
            'video': {}
        },
        '1045436006': {
            'name': 'Bleu',
            'images':[
                {'zoom': isDesktop ? '//lp2.hm.com/hmgoepprod?set=source[/3c/cc/blue.jpg],res[xl]' : '//x'}
            ]
        }
    };
</script></body></html>"""


def test_the_gallery_is_read_from_zoom_attributes_and_h_and_ms_article_script():
    from parsel import Selector

    from crawler.page import gallery
    from crawler.structured import Product

    url = "https://www2.hm.com/fr_fr/productpage.1045436003.html"
    found = gallery(Selector(HM_PAGE), Product("Short en jean Hybrid Regular", "", "Noir"), url)
    assert found == ["https://lp2.hm.com/hmgoepprod?set=source[/1a/aa/front.jpg],res[xl]",
                     "https://lp2.hm.com/hmgoepprod?set=source[/2b/bb/back.jpg],res[xl]",
                     "https://lp2.hm.com/hmgoepprod?set=source[/1a/aa/front.jpg],origin[dam],type[DESCRIPTIVESTILLLIFE]",
                     "https://www2.hm.com/wp/short-large.jpg"]  # never the other colour's (blue.jpg)
    # a product name too short to pick pictures by: the article script still names the gallery
    assert len(gallery(Selector(HM_PAGE), Product("Short", "", "Noir"), url)) == 2


def test_a_vocabulary_file_adds_words(tmp_path):
    from crawler.words import category_in, colour_in, vocabulary

    extra = tmp_path / "words.toml"
    extra.write_text('[categories.dress]\nsv = ["klänning"]\n[colours.red]\nsv = ["röd"]\n', encoding="utf-8")
    words = vocabulary(extra)
    assert category_in("Röd klänning", ("dress",), words) == "dress" and colour_in("Röd klänning", words) == "red"
    assert category_in("Röd klänning", ("dress",)) is None  # the shipped words alone do not know Swedish
    (tmp_path / "broken.toml").write_text("[categories\n", encoding="utf-8")
    with pytest.raises(ShopLensError, match="cannot read vocabulary"):
        vocabulary(tmp_path / "broken.toml")


def test_colour_names_map_to_the_nearest_base_colour():
    expected = {"Burgundy": "red", "Navy": "blue", "navy blue": "blue", "Beige": "white", "Khaki": "brown",
                "Ivory": "white", "Charcoal": "grey", "Light Grey": "grey", "Sky Blue": "blue", "Olive": "green",
                "Camel": "brown", "Lilac": "purple", "Hot Pink": "pink", "Mustard": "yellow", "Coral": "orange",
                "Forest Green": "green", "S / Red": "red", "Rot": None}
    assert {text: base_colour(text) for text in expected} == expected


def test_colour_variants_of_one_shot_are_not_near_duplicates():
    red, blue = (draw_garment("dress", colour, (120, 160), random.Random(7)) for colour in ("red", "blue"))
    kept = np.array([PictureHashes(perceptual_hash(red), colour_hash(red))], dtype=np.uint64)
    assert perceptual_hash(red) == perceptual_hash(blue)  # the greyscale hash alone cannot tell them apart
    assert not is_near(PictureHashes(perceptual_hash(blue), colour_hash(blue)), kept, 4)
    resized = red.resize((114, 152)).resize((120, 160))
    assert is_near(PictureHashes(perceptual_hash(resized), colour_hash(resized)), kept, 4)
