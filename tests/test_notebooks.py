"""The analysis notebooks follow the house conventions (read as JSON; nothing is executed).

A title and question first; one ``parameters`` cell of plain literal assignments (what papermill
overrides); an Environment section last; no outputs committed; and no convergence-gate threshold typed
into prose, since the gate's numbers must come from :data:`partclust.inference.GATE`.
"""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from partclust.layout import NOTEBOOKS

NOTEBOOK_PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
GATE_LITERALS = re.compile(r"1\.01|≥\s*400|>=\s*400")
"""How the gate's thresholds (R-hat ≤ 1.01, ESS ≥ 400) read when typed by hand."""


def _ids(paths):
    return [p.name for p in paths]


def _read(path):
    return nbformat.read(path, as_version=4)


def test_there_are_notebooks():
    assert len(NOTEBOOK_PATHS) >= 5, f"expected the analysis notebooks in {NOTEBOOKS}"


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=_ids(NOTEBOOK_PATHS))
def test_title_and_question_first(path):
    first = _read(path).cells[0]
    assert first.cell_type == "markdown", "the first cell must be markdown: the title and the question"
    assert first.source.startswith("# "), "the first cell must start with a '# ' title"
    assert "**Question.**" in first.source, "the first cell must state the notebook's **Question.**"


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=_ids(NOTEBOOK_PATHS))
def test_one_parameters_cell_of_literal_assignments(path):
    tagged = [c for c in _read(path).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected exactly one cell tagged 'parameters', found {len(tagged)}"
    cell = tagged[0]
    assert cell.cell_type == "code", "the 'parameters' cell must be a code cell"
    problems = []
    for node in ast.parse(cell.source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            problems.append(f"line {node.lineno}: not a plain `name = value` assignment")
            continue
        try:
            ast.literal_eval(node.value)
        except ValueError:
            problems.append(f"line {node.lineno}: {node.targets[0].id} is not a literal (derive values later)")
    assert not problems, "the parameters cell must hold literal assignments only:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=_ids(NOTEBOOK_PATHS))
def test_ends_with_the_environment(path):
    cells = _read(path).cells
    heading, code = cells[-2], cells[-1]
    assert heading.cell_type == "markdown" and heading.source.startswith("## Environment"), (
        "the second-to-last cell must be the '## Environment' heading"
    )
    assert code.cell_type == "code" and "package_versions()" in code.source, (
        "the last cell must call package_versions() (the versions run.json records)"
    )


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=_ids(NOTEBOOK_PATHS))
def test_committed_without_outputs(path):
    dirty = [k for k, c in enumerate(_read(path).cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"cells {dirty} carry outputs or an execution count; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=_ids(NOTEBOOK_PATHS))
def test_no_gate_threshold_typed_in_prose(path):
    typed = [(k, m.group()) for k, c in enumerate(_read(path).cells) if c.cell_type == "markdown"
             for m in GATE_LITERALS.finditer(c.source)]
    assert not typed, (
        f"markdown cells type convergence-gate thresholds {typed}; print them from "
        "partclust.inference.GATE / gate_description() instead"
    )
