"""The package's architecture, checked from its source text (AST; nothing under test is imported).

- every import of ``partclust.<layer>`` points to the same layer or a lower one, and the cross-cutting
  modules import no layer;
- each sub-package's ``__init__`` declares ``__all__`` and every name in it exists there;
- no module is over :data:`MAX_LINES` lines unless its docstring says why (a ``Length:`` line);
- the light imports do not load PyMC; every name of ``partclust.__all__`` resolves;
- ``partclust --help``, ``validate``, ``exact`` and ``reml`` run without importing PyMC, the samplers,
  ArviZ or the plotting and notebook stacks (``--help`` not even NumPy or pandas).
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from partclust.layout import REPO_ROOT

PACKAGE = REPO_ROOT / "src" / "partclust"
LAYERS: tuple[str, ...] = ("data", "models", "translate", "inference", "references", "evaluation", "studies",
                           "reporting", "runner")
"""The layers, lowest first: a module may import its own layer or one before it."""
CROSS_CUTTING: tuple[str, ...] = ("errors", "config", "layout", "validate", "files")
"""Top-level modules every layer may use; they import no layer."""
ENTRY_POINTS: tuple[str, ...] = ("__init__", "__main__")
"""The package's own ``__init__`` (lazy public names) and ``python -m partclust``: above every layer."""
MAX_LINES = 400
LIGHT_IMPORTS: tuple[str, ...] = (
    "partclust", "partclust.data", "partclust.models.priors", "partclust.inference.settings",
    "partclust.inference.runs", "partclust.evaluation", "partclust.references.reml", "partclust.runner.cli",
)
"""Modules a process that never samples imports (CLI start-up, run reading, study scheduling)."""


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(path: Path) -> str:
    return _dotted(path) if path.name == "__init__.py" else _dotted(path).rpartition(".")[0]


def _imported(package: str, tree: ast.Module) -> list[tuple[int, str]]:
    """Every module an ``import`` or ``from … import`` anywhere in the tree names (absolute, dotted).

    ``from partclust import x`` counts as importing ``partclust.x``; relative imports are resolved
    against ``package``, the dotted name of the file's package.
    """
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((node.lineno, module))
            out += [(node.lineno, f"{module}.{alias.name}") for alias in node.names if alias.name != "*"]
    return out


def _layer_of(dotted: str) -> str | None:
    """The layer (or cross-cutting module, or entry point) a ``partclust…`` name belongs to."""
    parts = dotted.split(".")
    if parts[0] != "partclust":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _docstring(tree: ast.Module) -> str:
    return ast.get_docstring(tree) or ""


def test_imports_point_down_the_layers():
    violations: dict[tuple[Path, int, str], str] = {}  # one per statement and layer, the most specific name
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own = _layer_of(_dotted(path))
        rel = path.relative_to(REPO_ROOT)
        if own in ENTRY_POINTS:
            continue
        assert own in LAYERS or own in CROSS_CUTTING, f"{rel} belongs to no layer; add it to LAYERS or CROSS_CUTTING"
        for line, name in _imported(_package_of(path), tree):
            target = _layer_of(name)
            if target is None or target == own or target not in LAYERS:
                continue  # third-party, same layer, cross-cutting, or a name imported from a cross-cutting module
            if own in CROSS_CUTTING:
                violations[rel, line, target] = f"{rel}:{line}: cross-cutting module imports the {target} layer ({name})"
            elif LAYERS.index(target) > LAYERS.index(own):
                violations[rel, line, target] = f"{rel}:{line}: the {own} layer imports the higher {target} layer ({name})"
    assert not violations, "imports against the layer order:\n" + "\n".join(violations.values())


def test_import_scan_sees_every_form():
    source = (
        "import partclust.runner.cli\n"
        "from partclust import studies\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from partclust.evaluation.compare import compare\n"
        "def f():\n    from ..reporting import render\n    from .design import Design\n"
    )
    found = {name for _, name in _imported("partclust.data", ast.parse(source))}
    assert {"partclust.runner.cli", "partclust.studies", "partclust.evaluation.compare",
            "partclust.reporting.render", "partclust.data.design"} <= found
    assert {_layer_of(n) for n in found} >= {"runner", "studies", "evaluation", "reporting", "data"}


def _bound_names(tree: ast.Module) -> set[str]:
    """Names bound at a module's top level (definitions, assignments, imports, also under ``if``/``try``)."""
    names: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Import):
                names.update(a.asname or a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                names.update(a.asname or a.name for a in node.names)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                visit(getattr(node, "finalbody", []))
    visit(tree.body)
    return names


def _declared_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                return list(ast.literal_eval(node.value))
    return None


def test_subpackages_declare_their_public_names():
    problems = []
    inits = [p for p in _modules() if p.name == "__init__.py" and p.parent != PACKAGE]
    assert inits, "no sub-packages found"
    for path in inits:
        rel = path.relative_to(REPO_ROOT)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        declared = _declared_all(tree)
        if declared is None:
            problems.append(f"{rel}: no __all__ (a literal list of the names users call)")
            continue
        if len(set(declared)) != len(declared):
            problems.append(f"{rel}: __all__ lists a name twice")
        bound = _bound_names(tree)
        lazy = [n for n in declared if n not in bound]
        if lazy and "__getattr__" not in bound:
            problems.append(f"{rel}: __all__ names {lazy}, which are neither defined nor imported there")
        elif lazy:
            module = importlib.import_module(_dotted(path))
            for name in lazy:
                try:
                    getattr(module, name)
                except AttributeError:
                    problems.append(f"{rel}: __all__ names {name!r}, which its __getattr__ does not resolve")
    assert not problems, "sub-package public surfaces:\n" + "\n".join(problems)


def test_long_modules_say_why():
    too_long = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        n = len(text.splitlines())
        if n <= MAX_LINES:
            continue
        reasons = [line.strip() for line in _docstring(ast.parse(text)).splitlines()
                   if line.strip().startswith("Length:")]
        if not any(r[len("Length:"):].strip() for r in reasons):
            too_long.append(f"{path.relative_to(REPO_ROOT)}: {n} lines and no 'Length: <reason>' line in its "
                            "module docstring; split it by concept or say why it stays whole")
    assert not too_long, "\n".join(too_long)


def test_light_imports_do_not_load_pymc():
    code = "; ".join(f"import {m}" for m in LIGHT_IMPORTS) + (
        "; import sys; print(','.join(sorted(m for m in ('pymc', 'pytensor', 'nutpie') if m in sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}  # this checkout's package, nothing else
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.strip()
    assert loaded == "", f"importing {', '.join(LIGHT_IMPORTS)} loads {loaded}; make those imports lazy"


def test_every_public_name_resolves():
    import partclust

    missing = []
    for name in partclust.__all__:
        try:
            getattr(partclust, name)
        except (AttributeError, ImportError) as exc:
            missing.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not missing, "partclust.__all__ names that do not resolve:\n" + "\n".join(missing)


HEAVY: tuple[str, ...] = ("pymc", "pytensor", "nutpie", "numba", "arviz", "matplotlib", "papermill", "dask", "xarray")
"""Packages a command that neither samples, plots nor runs notebooks must not import."""
LIGHT_COMMANDS: dict[str, tuple[list[str], tuple[str, ...], int]] = {
    "--help": (["--help"], HEAVY + ("numpy", "pandas", "scipy"), 0),
    "validate": (["validate"], HEAVY, 0),
    "exact": (["exact", "--model", "per_condition", "--out", "{tmp}/exact.csv"], HEAVY, 0),
    "reml": (["reml"], HEAVY, 0),
    "fit --draws 0": (["fit", "--model", "single", "--seed", "1", "--out", "{tmp}/run", "--draws", "0"],
                      HEAVY + ("numpy", "pandas", "scipy"), 2),  # a value out of range: refused before any import
    "fit --out /proc/x": (["fit", "--model", "single", "--out", "/proc/x/run"], HEAVY + ("numpy", "pandas", "scipy"), 2),
    "fit without a model": (["fit", "--seed", "1", "--out", "{tmp}/run"], HEAVY + ("numpy", "pandas", "scipy"), 2),
    "study --draws 0": (["study", "--draws", "0", "--out", "{tmp}/study"], HEAVY + ("numpy", "pandas", "scipy"), 2),
    "study --chains 1": (["study", "--chains", "1", "--out", "{tmp}/study"], HEAVY + ("numpy", "pandas", "scipy"), 2),
    "exact --data missing": (["exact", "--model", "single", "--data", "{tmp}/absent.csv", "--out", "{tmp}/exact.csv"],
                             HEAVY + ("numpy", "pandas", "scipy"), 2),
    "study --data folder": (["study", "--data", "{tmp}", "--out", "{tmp}/study"], HEAVY + ("numpy", "pandas", "scipy"),
                            2),
}
_RUN_COMMAND = """
import json, sys
from partclust.runner.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if "." not in m)}))
"""


@pytest.mark.parametrize("command", list(LIGHT_COMMANDS))
def test_light_commands_do_not_import_pymc(command, run1_path, tmp_path):
    argv, forbidden, expected = LIGHT_COMMANDS[command]
    argv = [a.format(tmp=tmp_path) for a in argv]
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent), "RUN1_CSV": str(run1_path)}
    done = subprocess.run([sys.executable, "-c", _RUN_COMMAND, *argv], check=False, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == expected, done.stdout + done.stderr
    loaded = sorted(set(forbidden) & set(result["modules"]))
    assert not loaded, f"partclust {command} imports {', '.join(loaded)}; import them where they are used"


def test_notebook_tools_load_without_the_iri_syntax_checker():
    """papermill and nbconvert come up without ``rfc3987_syntax`` (3.7 s of lark parsers); validation still works."""
    import importlib.util

    if importlib.util.find_spec("rfc3987_syntax") is None:
        pytest.skip("rfc3987-syntax is not installed here, so there is nothing for import_nbformat to skip")
    code = (
        "import sys\n"
        "from partclust.reporting.render import _new_exporter\n"
        "from partclust.runner.notebooks import execute\n"
        "_new_exporter()\n"
        "import papermill, nbformat\n"
        "print('rfc3987_syntax' in sys.modules)\n"
        "try:\n"
        "    nbformat.v4.new_notebook(cells=[{'id': 'a', 'cell_type': 'code', 'source': ''}])  # no metadata\n"
        "    print('accepted')\n"
        "except nbformat.validator.NotebookValidationError:\n"
        "    print('refused')\n"
        "import rfc3987_syntax\n"  # hidden only while jsonschema loaded its formats
        "print(rfc3987_syntax.__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "refused", "rfc3987_syntax"]
