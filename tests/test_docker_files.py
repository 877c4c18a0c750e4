"""The Docker files parse and agree with the settings, the routes and each other.

No Docker engine runs here, so this is what keeps ``docker/`` honest: the
compose file's environment is loaded through the real settings loader, the
DSN is checked against the ClickHouse service, the health check's path against
the admin app's routes.
"""

from __future__ import annotations

import importlib
import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from starlette.routing import Route

from gateway.app import create_gateway
from gateway.cli import COMMANDS
from gateway.settings import FIELDS, Settings, load_settings
from gateway.storage.client import dsn_database
from gateway.workers import check_workers

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
KNOWN = {item.env_name for item in FIELDS}
# ${NAME}, ${NAME:-default}, ${NAME:?message}
_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return data


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (DOCKER / "env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's variable interpolation, for the forms the file uses."""

    def one(match: re.Match[str]) -> str:
        name, operator, default = match.groups()
        if name in variables and (variables[name] or operator != ":-"):
            return variables[name]
        if operator and operator.endswith("?"):
            raise AssertionError(f"{name} is required: {default}")
        return default or ""

    return _VARIABLE.sub(one, value)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", (DOCKER / "Dockerfile").read_text())
    out = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def runtime_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in runtime_stage():
        if word == "ENV":
            for key, value in re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", rest):
                env[key] = value
    return env


SECRETS = {"CG_SECRET_KEY": "s" * 48, "CLICKHOUSE_PASSWORD": "a-long-random-password"}


def gateway_environment() -> dict[str, str]:
    """The gateway container's environment: the image's ENV, then compose's."""
    service = compose()["services"]["gateway"]
    environ = dict(dockerfile_env())
    for key, value in service["environment"].items():
        environ[key] = interpolate(str(value), SECRETS)
    return environ


def gateway_settings() -> Settings:
    return load_settings(environ=gateway_environment(), env_file=None)


def test_every_cg_variable_is_a_setting() -> None:
    named = set(dockerfile_env()) | set(compose()["services"]["gateway"]["environment"])
    unknown = {name for name in named if name.startswith("CG_")} - KNOWN
    assert not unknown, f"not settings of gateway/settings.py: {sorted(unknown)}"


def test_the_compose_environment_loads_as_settings_and_allows_its_workers() -> None:
    settings = gateway_settings()
    assert settings.workers > 1
    check_workers(settings, settings.workers)  # a server DSN, so several workers are fine
    assert settings.data_dir == "/data"
    assert settings.log_format == "json"


def test_the_dsn_points_at_the_clickhouse_service_with_its_user_and_password() -> None:
    services = compose()["services"]
    clickhouse = services["clickhouse"]
    assert str(clickhouse["image"]).startswith("clickhouse/clickhouse-server:")
    raw_dsn = str(services["gateway"]["environment"]["CG_CLICKHOUSE_DSN"])
    password_variable = _VARIABLE.search(str(clickhouse["environment"]["CLICKHOUSE_PASSWORD"]))
    assert password_variable is not None, "the ClickHouse password must come from docker/.env"
    assert f"${{{password_variable.group(1)}" in raw_dsn  # the same variable, written once
    dsn = urlsplit(gateway_settings().clickhouse_dsn)
    assert dsn.scheme == "http"
    assert dsn.hostname == "clickhouse"
    assert dsn.port == 8123
    assert dsn.username == clickhouse["environment"]["CLICKHOUSE_USER"]
    assert dsn.password == SECRETS["CLICKHOUSE_PASSWORD"]
    assert (
        dsn_database(gateway_settings().clickhouse_dsn)
        == clickhouse["environment"]["CLICKHOUSE_DB"]
    )
    assert "clickhouse" in services["gateway"]["depends_on"]


def test_clickhouse_keeps_its_data_on_a_volume_and_merges_ttl() -> None:
    data = compose()
    mounts = data["services"]["clickhouse"]["volumes"]
    named = [m.split(":")[0] for m in mounts if m.split(":")[1] == "/var/lib/clickhouse"]
    assert named and named[0] in data["volumes"]
    config_mounts = [m.split(":")[0] for m in mounts if "config.d" in m.split(":")[1]]
    for source in config_mounts:
        tree = ET.parse(DOCKER / source)  # mounted files exist and are XML
        assert tree.getroot().tag == "clickhouse"
        assert int(tree.findtext("merge_tree/merge_with_ttl_timeout", "0")) > 0
    health = data["services"]["clickhouse"]["healthcheck"]["test"]
    assert any("8123/ping" in part for part in health)


def test_the_upstream_is_the_site_service_on_its_port() -> None:
    services = compose()["services"]
    upstream = urlsplit(gateway_settings().upstream)
    site = services["site"]
    assert upstream.hostname == "site"
    command = site["command"]
    assert command[command.index("--port") + 1] == str(upstream.port)
    module, _, factory = command[command.index("--factory") + 1].partition(":")
    assert callable(getattr(importlib.import_module(module), factory))


def test_published_ports_match_the_listeners_and_admin_stays_local() -> None:
    settings = gateway_settings()
    ports = [str(p) for p in compose()["services"]["gateway"]["ports"]]
    assert f"{settings.port}:{settings.port}" in ports
    admin = [p for p in ports if p.endswith(f":{settings.admin_port}")]
    assert admin == [f"127.0.0.1:{settings.admin_port}:{settings.admin_port}"]
    exposed = {rest for word, rest in runtime_stage() if word == "EXPOSE"}
    assert exposed == {f"{settings.port} {settings.admin_port}"}
    volumes = compose()["services"]["gateway"]["volumes"]
    assert any(v.endswith(f":{settings.data_dir}") for v in volumes)


def test_required_variables_are_in_env_example() -> None:
    text = (DOCKER / "compose.yaml").read_text()
    required = {m.group(1) for m in _VARIABLE.finditer(text) if m.group(2) == ":?"}
    assert required == set(env_example())
    assert set(SECRETS) == required
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "/docker/.env" in ignored  # the filled-in secrets never go into git


def test_runtime_image_is_slim_non_root_and_checks_health() -> None:
    stage = runtime_stage()
    words = [word for word, _ in stage]
    base = stage[0][1]
    assert "slim" in base or "PYTHON_IMAGE" in base
    assert "slim" in next(r for w, r in dockerfile_instructions() if w == "ARG")
    run_lines = " ".join(rest for word, rest in stage if word == "RUN")
    assert "apt-get install" not in run_lines and "build-essential" not in run_lines
    assert any(w == "COPY" and "--from=build" in r for w, r in stage)
    users = [rest for word, rest in stage if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert words.index("USER") < words.index("ENTRYPOINT")
    (healthcheck,) = [rest for word, rest in stage if word == "HEALTHCHECK"]
    path = re.search(r"(/[\w/]*healthz)", healthcheck)
    assert path is not None
    settings = gateway_settings()
    assert path.group(1) == f"{settings.prefix}healthz"
    _, admin = create_gateway(settings, COMMANDS)
    admin_paths = {r.path for r in admin.routes if isinstance(r, Route)}
    assert path.group(1) in admin_paths
    assert "CG_ADMIN_PORT" in healthcheck


def test_the_entrypoint_is_the_console_script() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (entrypoint,) = [rest for word, rest in runtime_stage() if word == "ENTRYPOINT"]
    assert yaml.safe_load(entrypoint) == ["consent-gateway"]
    assert "consent-gateway" in project["project"]["scripts"]
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore  # only what is named below goes into the build context
    for word, rest in dockerfile_instructions():
        if word != "COPY" or rest.startswith("--from"):
            continue
        for source in rest.split()[:-1]:
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is missing"
            assert f"!{source}" in ignore or f"!{source}/" in ignore, f"{source} is ignored"


@pytest.mark.parametrize("name", ["README.md", "Dockerfile", "compose.yaml", "env.example"])
def test_docker_folder_has_its_files(name: str) -> None:
    assert (DOCKER / name).is_file()
    if name == "README.md":
        assert "docker compose -f docker/compose.yaml up" in (DOCKER / name).read_text()
