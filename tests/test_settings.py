"""Settings: precedence, clear errors naming the variable, secrets that never print."""

from __future__ import annotations

import typing
from dataclasses import fields
from pathlib import Path

import pytest

from gateway.exceptions import SettingsError
from gateway.settings import FIELDS, Settings, load_settings
from gateway.settings_reference import render_reference

GOOD = {"CG_UPSTREAM": "http://127.0.0.1:8000", "CG_SECRET_KEY": "s" * 32}


def load(**environ: str) -> object:
    return load_settings(environ={**GOOD, **environ}, env_file=None)


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"CG_UPSTREAM": ""}, ["CG_UPSTREAM", "http"]),
        ({"CG_UPSTREAM": "ftp://files.example"}, ["CG_UPSTREAM", "http://"]),
        ({"CG_UPSTREAM": "example.org"}, ["CG_UPSTREAM"]),
        ({"CG_UPSTREAM": "http://[::1"}, ["CG_UPSTREAM", "http://"]),
        ({"CG_UPSTREAM": "http://site.example:99999"}, ["CG_UPSTREAM", "http://"]),
        ({"CG_UPSTREAM": "http://site.example:http"}, ["CG_UPSTREAM", "http://"]),
        ({"CG_UPSTREAM": "http://me:hunter2@site.example"}, ["CG_UPSTREAM", "password"]),
        ({"CG_SECRET_KEY": "short"}, ["CG_SECRET_KEY", "32 bytes"]),
        ({"CG_SECRET_KEY": "s" * 32 + ",tooshort"}, ["CG_SECRET_KEY", "key number 2"]),
        ({"CG_SECRET_KEY": " , "}, ["CG_SECRET_KEY"]),
        ({"CG_PORT": "eighty"}, ["CG_PORT", "whole number"]),
        ({"CG_PORT": "70000"}, ["CG_PORT", "65535"]),
        ({"CG_TRUSTED_PROXIES": "10.0.0.0/8,nonsense"}, ["CG_TRUSTED_PROXIES", "nonsense"]),
        ({"CG_READ_TIMEOUT": "-1"}, ["CG_READ_TIMEOUT"]),
        ({"CG_PREFIX": "consent"}, ["CG_PREFIX", "slash"]),
    ],
)
def test_bad_values_name_the_variable_and_the_fix(
    environ: dict[str, str], names: list[str]
) -> None:
    with pytest.raises(SettingsError) as error:
        load(**environ)
    for name in names:
        assert name in str(error.value)


def test_an_upstream_password_is_refused_without_being_repeated() -> None:
    with pytest.raises(SettingsError) as error:
        load(CG_UPSTREAM="https://me:hunter2@site.example")
    assert "hunter2" not in str(error.value)


def test_missing_required_settings_are_named() -> None:
    with pytest.raises(SettingsError, match="CG_SECRET_KEY is not set"):
        load_settings(environ={"CG_UPSTREAM": "http://a.example"}, env_file=None)
    with pytest.raises(SettingsError, match="CG_UPSTREAM is not set"):
        load_settings(environ={"CG_SECRET_KEY": "s" * 32}, env_file=None)


def test_environment_beats_env_file_beats_toml_beats_default(tmp_path: Path) -> None:
    toml = tmp_path / "gateway.toml"
    toml.write_text('[gateway]\nport = 7000\nhost = "10.0.0.1"\nread_timeout = 9\n')
    env_file = tmp_path / ".env"
    env_file.write_text("CG_PORT=7100\nCG_HOST=10.0.0.2\n")
    settings = load_settings(
        environ={**GOOD, "CG_PORT": "7200", "CG_CONFIG_FILE": str(toml)}, env_file=env_file
    )
    assert settings.port == 7200  # environment
    assert settings.host == "10.0.0.2"  # .env
    assert settings.read_timeout == 9.0  # TOML
    assert settings.connect_timeout == 5.0  # default
    overridden = load_settings(environ=GOOD, env_file=None, overrides={"port": 9999, "host": None})
    assert overridden.port == 9999 and overridden.host == "0.0.0.0"


def test_missing_or_broken_toml_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load(CG_CONFIG_FILE=str(tmp_path / "nope.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 1")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load(CG_CONFIG_FILE=str(broken))


def test_keys_rotate_newest_first_and_never_print() -> None:
    settings = load_settings(
        environ={**GOOD, "CG_SECRET_KEY": "n" * 32 + ", " + "o" * 32}, env_file=None
    )
    assert settings.secret_keys == ["n" * 32, "o" * 32]
    assert "nnnn" not in repr(settings) and "oooo" not in repr(settings)


def test_every_setting_is_documented() -> None:
    reference = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    missing = [item.env_name for item in FIELDS if f"`{item.env_name}`" not in reference]
    assert missing == [], f"document these in docs/configuration.md: {missing}"
    assert reference == render_reference(), (
        "docs/configuration.md is stale: python -m gateway.settings_reference > "
        "docs/configuration.md"
    )


def test_the_settings_class_declares_every_field_once_with_its_parsers_type() -> None:
    # FIELDS is the one declaration; the dataclass must hold exactly those settings, in
    # the same order, each typed as its parser returns, or load_settings cannot build it.
    hints = typing.get_type_hints(Settings)
    assert [f.name for f in fields(Settings)] == [item.attribute for item in FIELDS]
    for item in FIELDS:
        assert typing.get_type_hints(item.parse).get("return") == hints[item.attribute], (
            f"{item.env_name}: its parser returns another type than Settings.{item.attribute}"
        )
