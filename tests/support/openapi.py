"""Checking an answer against the API's OpenAPI document."""

from __future__ import annotations

from typing import Any

from openapi_schema_validator import OAS31Validator


def conforms(document: dict[str, Any], path: str, method: str, response: Any) -> None:
    """The response's status is documented for the operation, and its JSON body fits the schema."""
    documented = document["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, f"{method.upper()} {path} -> {response.status_code} undocumented"
    content = documented[str(response.status_code)].get("content", {})
    if "application/json" in content:
        schema = {**content["application/json"]["schema"], "components": document["components"]}
        OAS31Validator(schema).validate(response.json)
