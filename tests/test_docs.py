"""README.md and docs/ stay true to the code: every module they name imports (and every attribute they
name on it exists), every repository path they name exists, every page they link to is there, and the
README's two commands are what scripts/ and CI run."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PACKAGES = ("shoplens", "network", "crawler", "training", "serving", "mainjob")
FOLDERS = ("shoplens", "network", "crawler", "training", "serving", "mainjob", "bench", "scripts", "docker",
           "extension", "tests", "models", "docs")
DOTTED = re.compile(rf"`((?:{'|'.join(PACKAGES)})(?:\.\w+)+)")  # `network.export.exported_bundle`
PATH = re.compile(rf"`((?:{'|'.join(FOLDERS)})/[\w./-]*\w/?)`")  # `bench/serve_load.py`, `docs/`
LINK = re.compile(r"\]\((?!https?:|#)([^)#\s]+)")


def named_object(dotted: str) -> bool:
    """Whether `dotted` is a module, or a module's attribute (a class's attribute too)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_module_and_path_a_page_names_exists(page):
    text = page.read_text(encoding="utf-8")
    modules = sorted({name.rstrip(".") for name in DOTTED.findall(text)})
    assert [name for name in modules if not named_object(name)] == []
    paths = sorted(set(PATH.findall(text)))
    assert [path for path in paths if not (ROOT / path).exists()] == []
    links = sorted(set(LINK.findall(text)))
    assert [link for link in links if not (page.parent / link).exists()] == []


def test_readme_commands_are_what_scripts_and_ci_run():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/setup.sh && .venv/bin/shoplens demo" in readme and "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/setup.sh" in (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")


def test_readme_fits_on_a_few_screens_and_lists_every_docs_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    assert {page.name for page in PAGES[1:]} <= set(re.findall(r"\(docs/([\w-]+\.md)\)", readme))
