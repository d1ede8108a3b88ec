"""Tests the CLI's surface (issue 13, section 2): misspelled INTEL_* variables were silently
ignored, INTEL_AS_OF=garbage said "input is too short", the top-level help was a module
docstring, options had no help text, `ui --help` named one port, lean-runner/lean-replay
showed `python -m ...` usage, and there was no --version."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from intel_assets.settings import known_variables, unknown_variable_warnings

cli_main = importlib.import_module("intel_assets.cli.main")
ROOT = Path(__file__).resolve().parent.parent


def _cli(args: list[str], **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("INTEL_")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "intel_assets.cli", *args], env=full, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_misspelled_variables_are_warned_with_the_closest_name() -> None:
    """INTEL_UNIVERS (a typo) and INTEL_SYMBOLS (a synonym) were silently ignored."""
    lines = unknown_variable_warnings({"INTEL_UNIVERS": "SPY", "INTEL_SYMBOLS": "SPY",
                                       "INTEL_SERVE_PROT": "1", "INTEL_ZZZZZZ": "1",
                                       "INTEL_HOME": "/x", "INTEL_ENV": "dev", "PATH": "/bin"})
    assert lines == [
        "warning: INTEL_SERVE_PROT is not an intel_assets setting and is ignored; did you mean "
        "INTEL_SERVE_PORT?",
        "warning: INTEL_SYMBOLS is not an intel_assets setting and is ignored; did you mean "
        "INTEL_UNIVERSE?",
        "warning: INTEL_UNIVERS is not an intel_assets setting and is ignored; did you mean "
        "INTEL_UNIVERSE?",
        "warning: INTEL_ZZZZZZ is not an intel_assets setting and is ignored (`intel-assets "
        "doctor` and README list the settings)",
    ]
    assert {"INTEL_UNIVERSE", "INTEL_AS_OF", "INTEL_LEAN_RUNNER_URL", "INTEL_ENV"} <= set(known_variables())


def test_bad_as_of_names_the_format_and_an_example_and_typos_are_warned_once(tmp_path: Path) -> None:
    """INTEL_AS_OF=garbage said "input is too short"; the misspelling is warned on stderr
    (once) before the error line."""
    run = _cli(["bundle", "SPY"], INTEL_HOME=str(tmp_path), INTEL_UNIVERS="SPY",
               INTEL_AS_OF="garbage")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert lines == [
        "warning: INTEL_UNIVERS is not an intel_assets setting and is ignored; did you mean "
        "INTEL_UNIVERSE?",
        "error: invalid configuration: INTEL_AS_OF: 'garbage' is not a replay clock; write an "
        "ISO-8601 instant with a timezone (Z or +HH:MM), e.g. INTEL_AS_OF=2013-10-11T19:59:00Z, "
        "or INTEL_AS_OF=live for the live clock",
    ]
    assert "too short" not in run.stderr


def _walk(parser: argparse.ArgumentParser, found: list[argparse.ArgumentParser]) -> None:
    found.append(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _walk(child, found)


def _every_parser(monkeypatch: pytest.MonkeyPatch) -> list[argparse.ArgumentParser]:
    """The top-level parser's tree and each pass-through command's own parser (caught when it
    prints its --help)."""
    found: list[argparse.ArgumentParser] = []
    _walk(cli_main.build_parser(), found)
    caught: list[argparse.ArgumentParser] = []
    monkeypatch.setattr(argparse.ArgumentParser, "print_help",
                        lambda self, file=None: caught.append(self))
    for name in cli_main.PASS_THROUGH:
        caught.clear()
        with pytest.raises(SystemExit), contextlib.redirect_stdout(io.StringIO()):
            cli_main.main([name, "--help"])
        assert caught, f"{name} --help printed no parser's help"
        _walk(caught[0], found)
    return found


def test_every_option_has_help_and_every_usage_names_intel_assets(monkeypatch) -> None:
    """Options without help text, and pass-through commands whose usage said `python -m ...`."""
    parsers = _every_parser(monkeypatch)
    assert len(parsers) > 20
    missing = [(p.prog, a.option_strings or a.dest) for p in parsers for a in p._actions
               if not isinstance(a, argparse._SubParsersAction) and not a.help]
    assert missing == []
    assert [p.prog for p in parsers if not p.prog.startswith("intel-assets")] == []
    for name in ("lean-runner", "lean-replay"):
        run = _cli([name, "--help"])
        assert run.returncode == 0 and run.stdout.startswith(f"usage: intel-assets {name}")


def test_top_level_help_describes_the_product_and_lists_common_commands() -> None:
    """It was main.py's module docstring ("Owns the `intel-assets` console script ...")."""
    run = _cli(["--help"])
    assert run.returncode == 0 and "Owns" not in run.stdout
    assert "market context for Torghut" in run.stdout
    common = run.stdout.split("common commands:")[1].split("\n\n")[0]
    assert [line.split()[0] for line in common.strip().splitlines()] == [
        "demo", "ui", "serve", "bundle", "materialize", "universe", "doctor"]


def test_ui_help_names_both_ports_and_how_to_change_them() -> None:
    run = _cli(["ui", "--help"])
    text = " ".join(run.stdout.split())
    assert run.returncode == 0
    assert "--port" in text and "default 3000" in text
    assert "INTEL_SERVE_PORT" in text and "default 8080" in text and "serve --port" in text


def test_version_comes_from_the_installed_package() -> None:
    run = _cli(["--version"])
    assert run.returncode == 0 and run.stdout.strip() == f"intel-assets {version('intel_assets')}"


def _ui_test_script(tmp_path: Path, path: str, **env: str) -> subprocess.CompletedProcess:
    script = Path(__file__).resolve().parents[1] / "scripts" / "ui-test.sh"
    return subprocess.run(["/bin/bash", str(script)], env={"PATH": path, **env},
                          capture_output=True, text=True, timeout=60)


def test_ui_test_script_refuses_without_lean_data_or_a_browser(tmp_path: Path) -> None:
    """`make ui-test` needs the LEAN week and chromium: each missing one is one error line
    saying what to set or install, exit 2, before anything is built or installed."""
    no_lean = _ui_test_script(tmp_path, os.environ["PATH"], INTEL_LEAN_DATA_DIR=str(tmp_path / "none"))
    assert no_lean.returncode == 2 and no_lean.stderr.count("\n") == 1
    assert no_lean.stderr.startswith("error: ui-test replays the LEAN sample week: no LEAN data at ")
    assert "set INTEL_LEAN_DATA_DIR" in no_lean.stderr
    # no chromium on PATH and not root (a stand-in `id`): no apt-get, the command to run instead
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "dirname").symlink_to("/usr/bin/dirname")
    (tools / "id").write_text("#!/bin/sh\necho 1000\n")
    (tools / "id").chmod(0o755)
    lean = tmp_path / "lean"
    lean.mkdir()
    no_browser = _ui_test_script(tmp_path, str(tools), INTEL_LEAN_DATA_DIR=str(lean))
    assert no_browser.returncode == 2 and no_browser.stderr.count("\n") == 1
    assert no_browser.stderr == ("error: ui-test needs chromium and chromedriver on PATH: run "
                                 "`sudo apt-get install chromium chromium-driver`\n")
    assert no_lean.stdout == no_browser.stdout == ""  # nothing was built or installed


def test_every_intel_variable_the_repository_names_is_known() -> None:
    """The misspelling warning must not fire on our own variables: INTEL_UI_TEST_URL, which
    `make ui-test` sets, was warned as a typo of INTEL_EDGAR_TICKERS_URL. Every INTEL_* name in
    the code, tests, scripts, benchmarks, Makefile and README is a setting or a listed other."""
    import re

    from intel_assets.settings import _ALIASES, unknown_variable_warnings

    root = Path(__file__).resolve().parents[1]
    here = Path(__file__).resolve()  # this file spells misspellings on purpose, as settings' aliases do
    files = [root / "Makefile", root / "README.md", *root.glob("scripts/*.sh"),
             *(p for d in ("intel_assets", "tests", "benchmarks") for p in (root / d).rglob("*.py")
               if p.resolve() != here)]
    names = {n for f in files for n in re.findall(r"\bINTEL_[A-Z][A-Z0-9_]*[A-Z0-9]\b", f.read_text())}
    assert "INTEL_UI_TEST_URL" in names and len(names) > 40
    readme_example = {"INTEL_UNIVERS"}  # README's example of the warning
    warned = unknown_variable_warnings({n: "x" for n in names - set(_ALIASES) - readme_example})
    assert warned == []
