#!/usr/bin/env python3
"""Build the 'generic' pages of pages.json (fam == "generic") with the helpers of reduce.py.

Each generic entry gives: mirror/commit/path (source), page (output path under site/), folder ({cdn} sub-folder),
pic_rx (regex with a named group 'key' matching every URL form of a product picture, '/' may be JSON-escaped),
pictures (ordered list of [key, colour, role-or-null]), optional drop (ids), drop_class, max_json.
Seeds are stored in the entry ('seeds', key -> seed) so a rebuild gives the same names.
Usage: python3 build_extra.py [MIRROR_ROOT]   (default /work/.mirror)
"""
import json
import os
import subprocess
import sys

import reduce as R

HERE = os.path.dirname(os.path.abspath(__file__))
MIRRORS = sys.argv[1] if len(sys.argv) > 1 else '/work/.mirror'


def source(e):
    gd = os.path.join(MIRRORS, e['mirror'], 'repo')
    return subprocess.run(['git', '--git-dir', gd, 'show', f"{e['commit']}:{e['path']}"],
                          check=True, capture_output=True).stdout.decode('utf-8', 'replace')


def build(e):
    t = source(e)
    t = R.strip_scripts_styles(t, e.get('max_json'))
    t = R.drop_ids(t, e.get('drop'), protect=None)
    t = R.drop_classes(t, e.get('drop_class'), protect=None)
    names = {k: f"{e['category']}-{c}-{e['seeds'][k]}.jpg" for k, c, _ in e['pictures']}
    t = R.rename_pictures(t, e['pic_rx'], names, e['folder'])
    out = os.path.join(HERE, 'site', e['page'])
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w', encoding='utf-8') as f:
        f.write(t)
    return out, names


if __name__ == '__main__':
    for e in json.load(open(os.path.join(HERE, 'pages.json'))):
        if e.get('fam') == 'generic':
            out, names = build(e)
            print(os.path.getsize(out), out)
