"""One home per setting: every SHOPLENS_* name in the repository is declared in
shoplens/settings.py, read only through it, and docs/settings.md's table and docker/compose.yaml agree."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from shoplens import ShopLensError, settings

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"SHOPLENS_[A-Z0-9_]*[A-Z0-9]")
SKIPPED = {".git", ".venv", "node_modules", "runs", "shoplens.egg-info", "__pycache__"}


def repository_texts() -> dict[Path, str]:
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    paths = [ROOT / name for name in tracked if not SKIPPED & set(Path(name).parts)]
    return {path: path.read_text(encoding="utf-8", errors="replace") for path in paths if path.is_file()
            and path.suffix in {".py", ".md", ".yaml", ".yml", ".json", ".sh", ".js", ".properties", ".Dockerfile"}}


def test_every_name_in_the_repository_is_declared():
    used = {(name, path.relative_to(ROOT)) for path, text in repository_texts().items() for name in NAME.findall(text)}
    assert used, "the scan found nothing: it is broken"
    assert sorted((name, str(path)) for name, path in used if name not in settings.DECLARED) == []


def test_the_environment_is_read_only_through_the_declarations():
    direct = re.compile(r"(environ\.get\(|environ\[|getenv\()\s*[\"']SHOPLENS_")
    offenders = [str(path.relative_to(ROOT)) for path, text in repository_texts().items() if direct.search(text)]
    assert offenders == []


def test_docs_settings_table_is_the_declaration():
    page = (ROOT / "docs/settings.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- settings table: begin -->\n(.*?)\n<!-- settings table: end -->", page, re.S)
    assert block, "docs/settings.md lost its settings table markers"
    assert block.group(1) == settings.markdown_table(), "run `python -m shoplens.settings` and paste its table"


def test_compose_sets_only_declared_environment_settings_with_values_of_their_type():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text(encoding="utf-8"))
    found = 0
    for service in compose["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if not name.startswith("SHOPLENS_"):
                continue
            found += 1
            declaration = settings.DECLARED[name]
            assert declaration.scope in settings.ENVIRONMENT_SCOPES, name
            if "${" not in str(value):  # a literal value must parse as the declared type
                declaration.parse(str(value))
    assert found >= 5


def test_reading_parses_types_and_names_the_setting_on_bad_values():
    assert settings.MAX_BATCH.read({"SHOPLENS_MAX_BATCH": "7"}) == 7
    assert settings.CORS_ORIGINS.read({"SHOPLENS_CORS_ORIGINS": " a, ,b "}) == ["a", "b"]
    assert settings.INSECURE_NO_API_KEY.read({"SHOPLENS_INSECURE_NO_API_KEY": "yes"}) is True
    assert settings.API_KEYS.read({}) == [] and settings.MAX_BATCH.read({}) == 32
    with pytest.raises(ShopLensError, match="SHOPLENS_MAX_BATCH"):
        settings.MAX_BATCH.read({"SHOPLENS_MAX_BATCH": "many"})
    with pytest.raises(ShopLensError, match="SHOPLENS_INSECURE_NO_API_KEY"):
        settings.INSECURE_NO_API_KEY.read({"SHOPLENS_INSECURE_NO_API_KEY": "maybe"})


def test_written_environment_reads_back_the_same_values():
    values = {settings.TORCHSERVE_URLS: ["http://a:1", "http://b:2"], settings.INFERENCE_TIMEOUT: 2.5,
              settings.INSECURE_NO_API_KEY: True, settings.API_KEYS: []}
    environment = settings.environment(values)
    assert {setting: setting.read(environment) for setting in values} == values
