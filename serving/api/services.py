"""What the views work with — settings, the model client, the answer cache, the model's
default version as last seen, the catalogue index of visual search and the corrections
store with its recorder of uncertain answers — given to
`create_app` and reached through these accessors (never through ``current_app.config``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from serving.api.cache import AnswerCache
from serving.api.corrections import Corrections
from serving.api.inference import TorchServeClient
from serving.api.versions import DefaultVersion
from serving.index.live import LiveIndex

EXTENSION = "shoplens"


@dataclass(frozen=True)
class Services:
    settings: Any  # serving.api.config.Settings
    model: TorchServeClient
    cache: AnswerCache
    default_version: DefaultVersion
    catalogue: LiveIndex
    corrections: Corrections

    def install(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self


def _services() -> Services:
    return current_app.extensions[EXTENSION]


def settings() -> Any:
    return _services().settings


def model() -> TorchServeClient:
    return _services().model


def cache() -> AnswerCache:
    return _services().cache


def default_version() -> DefaultVersion:
    return _services().default_version


def catalogue() -> LiveIndex:
    return _services().catalogue


def corrections() -> Corrections:
    return _services().corrections
