"""Headless Chromium for the crawler's JavaScript pages and the main job's extension
driver (`mainjob.extension`): the flags that let it start on a machine with no outside
network."""

from __future__ import annotations

import shutil
from typing import Any

CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1600",
)


def chromium_options(user_data_dir: str, extra: tuple[str, ...] = ()) -> Any:
    """Chromium options that start quickly on a machine with no outside network."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", *extra):
        options.add_argument(flag)
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if binary:
        options.binary_location = binary
    return options


def start_chromium(user_data_dir: str, extra: tuple[str, ...] = ()) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver")
    service = Service(executable_path=driver_path) if driver_path else Service()
    return webdriver.Chrome(service=service, options=chromium_options(user_data_dir, extra))
