"""docker/ validated statically (no Docker engine here): the compose file parses and names
files and ports that exist; images pin their bases, run as a non-root user, hold no secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

DOCKER = ROOT / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def test_compose_services_build_from_existing_dockerfiles():
    services = COMPOSE["services"]
    assert {"redis", "torchserve", "api", "trainer"} <= set(services)
    for name, service in services.items():
        if "build" in service:
            context = (DOCKER / service["build"]["context"]).resolve()
            assert (context / service["build"]["dockerfile"]).is_file(), name
        else:
            assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", service["image"]), f"{name}: pin the image tag"
    assert {Path(s["build"]["dockerfile"]).name for s in services.values() if "build" in s} == \
        {path.name for path in DOCKERFILES}


def test_compose_health_checks_volumes_and_loopback_ports():
    services = COMPOSE["services"]
    for name in ("redis", "torchserve", "api"):
        assert services[name]["healthcheck"]["test"], name
    declared = set(COMPOSE["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in declared, f"{name}: volume {source} not declared"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: publish on loopback only ({port})"
    assert services["api"]["ports"] == ["127.0.0.1:8000:8000"]
    api_env = services["api"]["environment"]
    assert api_env["SHOPLENS_TORCHSERVE_URLS"] == "http://torchserve:8080"
    assert api_env["SHOPLENS_API_KEYS"].startswith("${SHOPLENS_API_KEYS:?")  # a key must be given, none is stored
    assert "8080" in services["torchserve"]["expose"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_dockerfile_pins_its_base_runs_unprivileged_and_copies_what_exists(dockerfile):
    steps = instructions(dockerfile)
    bases = [argument for op, argument in steps if op == "FROM"]
    assert bases and all(re.fullmatch(r"[\w./-]+:\d[\w.-]*(@sha256:[0-9a-f]{64})?", base) for base in bases), bases
    users = [argument for op, argument in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must end as a non-root user"
    for op, argument in steps:
        if op == "COPY":
            for source in argument.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        if op in ("ENV", "ARG"):
            assert not re.search(r"(KEY|SECRET|TOKEN|PASSWORD)\w*=", argument, re.I), f"secret in {op} {argument}"
