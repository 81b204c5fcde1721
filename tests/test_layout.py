"""The three packages stand apart: the bridge wraps any stdio server, the server knows no bridge."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

FORBIDDEN = {
    "bridge": {"legacy_stdio", "atlassian_sandbox"},
    "legacy_stdio": {"bridge", "atlassian_sandbox"},
    "atlassian_sandbox": {"bridge", "legacy_stdio"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_none_of_the_others(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files, f"no sources under src/{package}"
    offenders = {
        str(f.relative_to(SRC)): sorted(imported_roots(f) & FORBIDDEN[package])
        for f in files
        if imported_roots(f) & FORBIDDEN[package]
    }
    assert offenders == {}


def test_the_bridge_serves_without_importing_the_sdk_or_pydantic() -> None:
    """The bridge reads JSON-RPC by hand: the `mcp` SDK, pydantic and cryptography (about 30 MiB in
    every bridge process) load only where a feature needs them (a 2026-07-28 round's seal)."""
    import subprocess
    import sys

    code = ("import sys, bridge.app, bridge.cli; "
            "print(' '.join(m for m in ('mcp', 'mcp_types', 'pydantic', 'cryptography') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "", f"imported at start: {done.stdout.strip()}"
