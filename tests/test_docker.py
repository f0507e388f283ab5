"""docker/ validated statically (no Docker engine here): the compose file parses and names
files and ports that exist; images pin their bases, run as a non-root user, hold no secret,
and install their component's extra from pyproject.toml, whose extras cover what each
component's code imports."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# each image and the pyproject extra it installs
IMAGES = {"api.Dockerfile": "api", "crawler.Dockerfile": "crawl", "torchserve.Dockerfile": "worker",
          "trainer.Dockerfile": "train"}
# each extra and the code it runs (the API and its gunicorn settings, the Spark batch job, the TorchServe
# worker's handler; the rest of serving/ operates TorchServe from the host)
COMPONENTS = {"crawl": ["crawler"], "network": ["network"], "train": ["training"],
              "api": ["serving/api"], "batch": ["serving/batch"], "worker": ["serving/worker"], "serve": ["serving"]}
FIRST_PARTY = {"shoplens", "network", "crawler", "training", "serving", "mainjob"}


@pytest.fixture(scope="module")
def docker(root) -> Path:
    return root / "docker"


@pytest.fixture(scope="module")
def compose(docker) -> dict:
    return yaml.safe_load((docker / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def project(root) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def test_compose_services_build_from_existing_dockerfiles(compose, docker):
    services = compose["services"]
    assert {"redis", "torchserve", "api", "trainer"} <= set(services)
    for name, service in services.items():
        if "build" in service:
            context = (docker / service["build"]["context"]).resolve()
            assert (context / service["build"]["dockerfile"]).is_file(), name
        else:
            assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", service["image"]), f"{name}: pin the image tag"
    assert {Path(s["build"]["dockerfile"]).name for s in services.values() if "build" in s} == \
        {path.name for path in docker.glob("*.Dockerfile")} == set(IMAGES)


def test_compose_health_checks_volumes_and_loopback_ports(compose):
    services = compose["services"]
    for name in ("redis", "torchserve", "api"):
        assert services[name]["healthcheck"]["test"], name
    declared = set(compose["volumes"])
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


@pytest.mark.parametrize("name", IMAGES)
def test_dockerfile_pins_its_base_runs_unprivileged_and_copies_what_exists(name, docker, root):
    steps = instructions(docker / name)
    bases = [argument for op, argument in steps if op == "FROM"]
    assert bases and all(re.fullmatch(r"[\w./-]+:\d[\w.-]*(@sha256:[0-9a-f]{64})?", base) for base in bases), bases
    users = [argument for op, argument in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must end as a non-root user"
    for op, argument in steps:
        if op == "COPY":
            for source in argument.split()[:-1]:
                assert (root / source).exists(), f"COPY {source}: not in the repository"
        if op in ("ENV", "ARG"):
            assert not re.search(r"(KEY|SECRET|TOKEN|PASSWORD)\w*=", argument, re.I), f"secret in {op} {argument}"


@pytest.mark.parametrize("name", IMAGES)
def test_dockerfile_installs_its_extra_from_pyproject_and_nothing_by_hand(name, docker, project):
    installs = [shlex.split(argument.split("pip install", 1)[1].split("&&")[0])
                for op, argument in instructions(docker / name) if op == "RUN" and "pip install" in argument]
    assert len(installs) == 1, f"{name}: one pip install, of the project"
    words, targets = iter(installs[0]), []
    for word in words:
        if word in ("-c", "--constraint"):
            assert next(words) == "constraints.txt"
        else:
            assert not word.startswith("-"), f"{name}: pip install {word} (no requirement files, no --no-deps)"
            targets.append(word)
    assert len(targets) == 1, f"{name}: installs {targets}, not only the project"
    extras = re.fullmatch(r"\.\[([\w,-]+)\]", targets[0])
    assert extras, f"{name}: installs {targets[0]}, not the project with its extra"
    assert IMAGES[name] in extras[1].split(",") and set(extras[1].split(",")) <= set(project["optional-dependencies"])


def installed_closure(requirements: list[str]) -> set[str]:
    """Distributions these requirements install, their own dependencies included."""
    found: set[str] = set()
    todo = [Requirement(text) for text in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found.add(name)
        for text in importlib.metadata.requires(requirement.name) or []:
            needed = Requirement(text)
            if not needed.marker or any(needed.marker.evaluate({"extra": extra})
                                        for extra in ("", *requirement.extras)):
                todo.append(needed)
    return found


def third_party_imports(files: list[Path]) -> dict[str, str]:
    """Top-level module -> the first file importing it, for modules outside the standard library and ShopLens."""
    found: dict[str, str] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for top in {name.split(".")[0] for name in names} - FIRST_PARTY - set(sys.stdlib_module_names):
                found.setdefault(top, str(path))
    return found


@pytest.mark.parametrize("extra", COMPONENTS)
def test_each_extra_covers_what_its_code_imports(extra, root, project):
    # a folder's files, less those of another extra's folder inside it (serving/api/ inside serving/)
    claimed_elsewhere = [root / path for other, paths in COMPONENTS.items() if other != extra for path in paths]
    files = {path for folder in (root / name for name in COMPONENTS[extra])
             for path in ([folder] if folder.suffix == ".py" else folder.rglob("*.py"))
             if not any(path.is_relative_to(other) and other.is_relative_to(folder) for other in claimed_elsewhere)}
    declared = installed_closure([*project["dependencies"], *project["optional-dependencies"][extra]])
    distributions = importlib.metadata.packages_distributions()
    missing = {module: where for module, where in third_party_imports(sorted(files)).items()
               if not {canonicalize_name(d) for d in distributions.get(module, [module])} & declared}
    assert not missing, f"imported but not installed by the {extra!r} extra: {missing}"


def properties(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_long_running_services_restart_and_report_their_health(compose):
    """Every service that runs all the time (no profile) comes back after a crash or a host
    reboot and has a health check with a bounded timeout; the API waits for healthy parts."""
    services = compose["services"]
    long_running = {name for name, service in services.items() if "profiles" not in service}
    assert long_running == {"redis", "torchserve", "api"}
    for name in long_running:
        service = services[name]
        assert service.get("restart") in ("always", "unless-stopped"), f"{name}: no restart policy"
        check = service["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and check["retries"] >= 1, name
        assert all(re.fullmatch(r"\d+s", check[key]) for key in ("interval", "timeout")), name
    assert services["api"]["depends_on"] == {"redis": {"condition": "service_healthy"},
                                             "torchserve": {"condition": "service_healthy"}}


def test_torchserve_image_config_matches_the_local_one_on_sizes_and_metrics(compose, docker, root):
    local = properties(root / "serving" / "operations" / "config.properties")
    image = properties(docker / "torchserve.config.properties")
    for key in ("max_request_size", "max_response_size", "metrics_mode", "enable_model_api", "allowed_urls"):
        assert image[key] == local[key], key
    assert image["metrics_mode"] == "prometheus" and image["metrics_address"].endswith(":8082")
    assert "8082" in compose["services"]["torchserve"]["expose"]  # scraped on the compose network
