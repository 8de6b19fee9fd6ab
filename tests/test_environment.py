"""environment.yml lists exactly the dependencies of pyproject.toml (the single source)."""

from __future__ import annotations

import re
import tomllib

import yaml

from partclust.layout import REPO_ROOT

# conda-forge names that differ from PyPI's
CONDA_NAMES = {"graphviz": "python-graphviz"}


def _split(spec: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]+\])?\s*(.*)$", spec)
    assert m, spec
    return m.group(1).lower(), m.group(3).replace(" ", "")


def _expected() -> dict[str, str]:
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    out = {}
    for spec in deps:
        name, version = _split(spec)
        out[CONDA_NAMES.get(name, name)] = version
        if spec.startswith("dask[distributed]"):
            out["distributed"] = version
    return out


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    listed = {}
    for item in env["dependencies"]:
        if isinstance(item, str) and not item.startswith(("python=", "pip")):
            name, version = _split(item)
            listed[name] = version
    assert listed == _expected()
    py = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert py == ["python=3.12"] and requires == ">=3.12"
