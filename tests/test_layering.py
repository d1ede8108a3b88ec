"""The package's import graph (every import, module-level or inside a function) goes only
downwards through the layers below, and no two packages import each other. The closing note of
issue 15 shows the graph this test computes (``python -m pytest tests/test_layering.py -s``)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "intel_assets"

#: Lower numbers are lower layers; a unit may import only units of a strictly lower layer.
#: (A unit is a subpackage or a top-level module of intel_assets.)
LAYERS: dict[str, int] = {
    "contracts": 0,                      # wire shapes, no intel_assets import
    "settings": 1, "bounded_http": 1,   # the environment; the bounded HTTP client
    "run_limits": 1,
    "domain": 2, "torghut": 2,          # pure logic; the consumer (contracts only)
    "dagster_internals": 2,
    "jobs": 3,
    "stores": 3, "providers": 3,        # SQL and connections; provider clients
    "execution": 3,                      # adapters, the LEAN runner, replays
    "serving": 4,                        # the HTTP app (reads the store)
    "dagster_storage": 4, "run_launcher": 4,   # Dagster instance plugins
    "resources": 5,                      # ConfigurableResources around stores/providers/execution
    "sensors": 6, "checks": 6,
    "assets": 7,
    "parity_definitions": 8,
    "definitions": 9,
    "devtools": 9,                       # local stand-ins (may run the serving app)
    "drills": 10,                        # end-to-end rehearsals
    "cli": 11,
}
#: What each lowest-layer unit may import (besides itself).
ONLY = {"contracts": set(), "torghut": {"contracts"}, "domain": {"contracts"},
        "settings": {"contracts"}}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<package>"


def import_graph() -> dict[str, dict[str, set[str]]]:
    """{importing unit: {imported unit: {files}}} over every intel_assets import."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        source = _unit(module.removesuffix(".__init__"))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = ([f"intel_assets.{a.name}" for a in node.names]
                           if node.module == "intel_assets" else [node.module])
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if target.startswith("intel_assets.") and _unit(target) != source:
                    graph[source][_unit(target)].add(path.name)
    return graph


def test_every_unit_has_a_layer() -> None:
    units = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert units == set(LAYERS), (sorted(units - set(LAYERS)), sorted(set(LAYERS) - units))


def test_imports_only_go_down_and_never_in_a_circle() -> None:
    graph = import_graph()
    print("\nintel_assets import graph (unit -> units it imports):")
    for source in sorted(graph, key=lambda u: (LAYERS[u], u)):
        print(f"  [{LAYERS[source]:2}] {source:18} -> {', '.join(sorted(graph[source]))}")
    upward = [f"{s} -> {t} ({', '.join(sorted(files))})"
              for s, targets in graph.items() for t, files in targets.items()
              if LAYERS[t] >= LAYERS[s] or (s in ONLY and t not in ONLY[s])]
    assert not upward, "imports that do not go down a layer:\n" + "\n".join(sorted(upward))
    mutual = sorted({tuple(sorted((s, t))) for s, targets in graph.items() for t in targets
                     if s in graph.get(t, {})})
    assert not mutual, f"packages importing each other: {mutual}"


def test_domain_and_contracts_import_no_dagster() -> None:
    for unit in ("domain", "contracts", "torghut", "execution", "stores", "providers"):
        for path in (PACKAGE / unit).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                         else [a.name for a in node.names] if isinstance(node, ast.Import)
                         else [])
                assert not any(n == "dagster" or n.startswith("dagster.") or
                               n.startswith("dagster_") for n in names), path
