"""Writes the demo shop's pictures and catalogue (crawler/demoshop_site/) from clothing-small.

    .venv/bin/python scripts/build_demo_shop.py [--data ../shared/datasets/clothing-small]

11 photographs a class from clothing-small's train split (CC0 1.0; its LICENSE is copied
beside them), each with the main colour the project's own labellers gave it
(bench/colour_labels_train*.csv: single-coloured garments first, then as many colours as
the class has), resized to at most 360 pixels a side; a title, a price and a category
name in a shop's words; and three pictures a shop shows that are no garments: a banner
(scikit-image's rocket, public domain), a lifestyle scene (scikit-image's coffee, CC0) and
the shop's wordmark (drawn here). Deterministic: the same data gives the same files.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "crawler" / "demoshop_site"
PER_CLASS = 11
MAX_SIDE = 360  # pixels: a product-grid picture
QUALITY = 80
# class -> (the shop's category name, the noun its titles use)
WORDS = {"dress": ("Dresses", "dress"), "hat": ("Hats", "hat"), "longsleeve": ("Long-sleeve tops", "long-sleeve top"),
         "outwear": ("Jackets & coats", "jacket"), "pants": ("Trousers", "trousers"), "shirt": ("Shirts", "shirt"),
         "shoes": ("Shoes", "sneakers"), "shorts": ("Shorts", "shorts"), "skirt": ("Skirts", "skirt"),
         "t-shirt": ("T-shirts", "T-shirt")}
STYLES = ("Everyday", "Relaxed", "Classic", "Soft", "Essential", "Weekend", "City", "Studio", "Easy", "Modern", "Light")


def labelled(data: Path) -> dict[str, list[dict[str, str]]]:
    """Train pictures with a colour label, by class: single-coloured first, colours spread."""
    rows = []
    for path in sorted((ROOT / "bench").glob("colour_labels_train*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            rows += [row for row in csv.DictReader(handle) if (data / row["file"]).is_file()]
    by_class: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r.get("single_colour") != "yes", r["file"])):
        by_class[row["file"].split("/")[1]].append(row)
    chosen = {}
    for name, candidates in by_class.items():
        picked, colours = [], defaultdict(int)
        while len(picked) < min(PER_CLASS, len(candidates)):  # the least used colour next
            row = min((r for r in candidates if r not in picked), key=lambda r: colours[r["colour"]])
            picked.append(row)
            colours[row["colour"]] += 1
        chosen[name] = picked
    return chosen


def shrink(source: Path, target: Path) -> None:
    with Image.open(source) as image:
        image = image.convert("RGB")
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        image.save(target, "JPEG", quality=QUALITY, optimize=True, progressive=True)


def others(folder: Path) -> list[dict[str, str]]:
    from skimage import data as samples

    banner = Image.fromarray(samples.rocket()).crop((0, 120, 640, 290)).resize((1200, 320))
    banner.save(folder / "banner.jpg", "JPEG", quality=QUALITY)
    Image.fromarray(samples.coffee()).resize((360, 240)).save(folder / "lifestyle.jpg", "JPEG", quality=QUALITY)
    logo = Image.new("RGB", (240, 64), (250, 250, 248))
    ImageDraw.Draw(logo).text((18, 26), "SHOPLENS DEMO STORE", fill=(20, 20, 20))
    logo.save(folder / "logo.png")
    return [{"file": "others/banner.jpg", "source": "scikit-image data.rocket() (SpaceX, public domain)"},
            {"file": "others/lifestyle.jpg", "source": "scikit-image data.coffee() (Rachel Michetti, CC0)"},
            {"file": "others/logo.png", "source": "drawn by scripts/build_demo_shop.py"}]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "clothing-small")
    args = parser.parse_args()
    if not (args.data / "train").is_dir():
        sys.exit(f"clothing-small not found at {args.data}")
    for folder in ("photos", "others"):
        shutil.rmtree(OUT / folder, ignore_errors=True)
        (OUT / folder).mkdir(parents=True)
    products = []
    for name, rows in sorted(labelled(args.data).items()):
        category, noun = WORDS[name]
        for number, row in enumerate(rows, start=1):
            handle = f"{row['colour']}-{name}-{number:02d}"
            shrink(args.data / row["file"], OUT / "photos" / f"{handle}.jpg")
            products.append({"handle": handle, "title": f"{STYLES[number - 1]} {noun}", "class": name,
                             "category": category, "colour": row["colour"], "price": f"{19 + 4 * number}.90",
                             "photo": f"photos/{handle}.jpg", "source": f"clothing-small/{row['file']}"})
    catalogue = {"products": products, "others": others(OUT / "others"),
                 "licence": "photographs: CC0 1.0 (clothing-small, LICENSE); others: as each says"}
    (OUT / "catalogue.json").write_text(json.dumps(catalogue, indent=1) + "\n", encoding="utf-8")
    shutil.copy(args.data / "LICENSE", OUT / "LICENSE")
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{len(products)} products, {len(catalogue['others'])} other pictures, {size / 1e6:.2f} MB in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
