#!/usr/bin/env python3
"""How the pages in site/ were made (documentation + rebuild helper).

For every page listed in pages.json (kept next to this script while building):
  1. read the original saved page from a local bare mirror of its source repository
     (git --git-dir=<mirror> show <commit>:<path>);
  2. delete <style> blocks, inline <svg>, and every <script> that is not
     application/ld+json / application/json and does not hold product data
     (Amazon ImageBlockATF/colorImages, H&M productArticleDetails, Shopify meta, ...);
  3. delete a few big non-product elements by id (recommendation carousels,
     navigation flyouts, footers, review blocks) with a tag-balanced cut;
  4. replace every URL of a PRODUCT picture by {cdn}/<shop>/<category>-<colour>-<seed>.jpg,
     one name per distinct photo (all sizes / thumbnails of the same photo share a name);
     photos of other products are left pointing to their original host.
Nothing else is changed: the remaining markup is byte-for-byte the original.
Stand-alone: imports nothing from the repository.
"""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = re.compile(r'<script\b([^>]*)>(.*?)</script\s*>', re.I | re.S)
KEEP_SCRIPT = re.compile(r"colorImages|ImageBlockATF|var meta\s*=|ShopifyAnalytics\.meta|"
                         r"productArticleDetails|__NEXT_DATA__|__INITIAL_STATE__|\"@type\"\s*:\s*\"Product\"", re.I)


def strip_scripts_styles(t, max_json=None):
    t = re.sub(r'<style\b.*?</style\s*>', '', t, flags=re.I | re.S)
    t = re.sub(r'<svg\b.*?</svg\s*>', '', t, flags=re.I | re.S)
    out, pos = [], 0
    for m in SCRIPT.finditer(t):
        attrs, body = m.group(1), m.group(2)
        ty = re.search(r'type\s*=\s*["\']?([^"\'\s>]+)', attrs, re.I)
        ty = ty.group(1).lower() if ty else ''
        keep = ty == 'application/ld+json' or KEEP_SCRIPT.search(body) or (
            ty == 'application/json' and (max_json is None or len(body) <= max_json))
        out.append(t[pos:m.start()])
        if keep:
            out.append(m.group(0))
        pos = m.end()
    out.append(t[pos:])
    return ''.join(out)


def elem_end(t, start):
    tag = re.match(r'<([a-zA-Z0-9]+)', t[start:]).group(1)
    rx = re.compile(rf'<(/?){tag}\b[^>]*?(/?)>', re.I)
    depth = 0
    for mm in rx.finditer(t, start):
        if mm.group(1):
            depth -= 1
        elif not mm.group(2):
            depth += 1
        if depth == 0:
            return mm.end()
    return len(t)


PROTECTED = r'id="(?:productTitle|landingImage|ppd|dp-container|title_feature_div)"'


def drop_ids(t, id_rx, max_cut=400000, protect=PROTECTED):
    """Cut elements whose id matches id_rx; skip any whose end tag cannot be found."""
    if not id_rx:
        return t
    rx = re.compile(rf'<([a-zA-Z0-9]+)\b[^>]*\bid="(?:{id_rx})"', re.I)
    pos = 0
    while True:
        m = rx.search(t, pos)
        if not m:
            return t
        end = elem_end(t, m.start())
        if end >= len(t) or end - m.start() > max_cut or (protect and re.search(protect, t[m.start():end])):
            pos = m.end()
            continue
        t = t[:m.start()] + t[end:]
        pos = m.start()


def drop_classes(t, class_rx, max_cut=400000, protect=PROTECTED):
    """Cut elements whose class attribute matches class_rx (e.g. recommendation carousels)."""
    if not class_rx:
        return t
    rx = re.compile(rf'<([a-zA-Z0-9]+)\b[^>]*\bclass="(?:{class_rx})[^"]*"', re.I)
    pos = 0
    while True:
        m = rx.search(t, pos)
        if not m:
            return t
        end = elem_end(t, m.start())
        if end >= len(t) or end - m.start() > max_cut or (protect and re.search(protect, t[m.start():end])):
            pos = m.end()
            continue
        t = t[:m.start()] + t[end:]
        pos = m.start()


def rename_pictures(t, url_rx, key_names, folder):
    """url_rx: regex with group 'key'; key_names: key -> new file name."""
    def sub(m):
        name = key_names.get(m.group('key'))
        return f'{{cdn}}/{folder}/{name}' if name else m.group(0)
    return re.sub(url_rx, sub, t)


if __name__ == '__main__':
    print(__doc__)
