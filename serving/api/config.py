"""The API's settings object: one field per ``api`` setting declared in `shoplens.settings`
(name, type, default, doc live there), read from the environment when it is made, so a
test or a worker sees the environment of that moment."""

from __future__ import annotations

from dataclasses import field, fields, make_dataclass
from typing import Any

from shoplens import settings as declared

DECLARATIONS = {setting.field: setting for setting in declared.in_scope("api")}

Settings = make_dataclass("Settings", [(name, setting.kind, field(default_factory=setting.read))
                                       for name, setting in DECLARATIONS.items()])
Settings.__doc__ = "The API's settings; every field is a declared SHOPLENS_* setting (shoplens/settings.py)."


def as_environment(settings: Any) -> dict[str, str]:
    """The environment variables that give an API process (gunicorn) these settings."""
    return declared.environment({DECLARATIONS[f.name]: getattr(settings, f.name) for f in fields(settings)})
