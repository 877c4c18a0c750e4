"""The command line: help on every subcommand, settings errors as sentences, exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.cli import build_parser, main


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)  # type: ignore[arg-type]


def test_serve_and_demo_exist() -> None:
    assert {"serve", "demo"} <= set(subcommands())


@pytest.mark.parametrize("command", subcommands())
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert "usage: consent-gateway " + command in capsys.readouterr().out


def test_serve_with_a_bad_setting_stops_before_listening(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--upstream", "ftp://nope", "--env-file", ""],
        capture_output=True,
        text=True,
        timeout=60,
        env={"CG_SECRET_KEY": "s" * 32, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "CG_UPSTREAM must be an http:// or https:// URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_without_a_key_says_what_to_set() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--upstream", "http://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "CG_SECRET_KEY is not set" in result.stderr
