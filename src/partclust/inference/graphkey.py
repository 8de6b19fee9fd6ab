"""A content key of a PyMC model's log-density graph: equal keys, equal compiled code.

The key of the persistent compile cache (:mod:`partclust.inference.compiled`). It hashes what the
compiled log density, its gradient and the draws' expansion are made of, read from the graph itself
rather than from how the model was built:

- every Apply node in topological order: the Op's class and its ``__props__`` (the values PyTensor
  itself uses to tell two Ops apart), and which earlier variables it reads;
- every root variable's type (dtype and static shape); a constant's data bytes (data baked into the
  graph, such as an index of rows to clusters); a shared variable's name, type and the *shape* of its
  value but not the value (data swapped in at run time, e.g. ``pm.Data``);
- the free variables' names, value variables, transforms and shapes, the coordinate lengths and
  ``model.check_bounds``.

An Op whose identity cannot be written down from its properties (no ``__props__`` and attributes that
are not plain values) makes the model unkeyable: :func:`graph_key` then returns None and the caller
compiles without the cache, never guesses.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

__all__ = ["graph_key", "key_outputs", "Unkeyable"]


class Unkeyable(Exception):
    """A graph element whose identity cannot be written down as plain values."""


def _data_digest(value: Any) -> str:
    arr = np.ascontiguousarray(np.asarray(value))
    h = hashlib.sha256(str(arr.dtype).encode() + repr(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _plain(value: Any, depth: int = 0) -> Any:
    """Describe an Op property by JSON-able values (or raise :class:`Unkeyable`)."""
    if depth > 20:
        raise Unkeyable("property nested too deeply")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return [type(value).__name__, repr(value.item())]
    if isinstance(value, np.dtype):
        return ["dtype", str(value)]
    if isinstance(value, np.ndarray):
        return ["ndarray", _data_digest(value)]
    if isinstance(value, (tuple, list)):
        return [type(value).__name__, [_plain(v, depth + 1) for v in value]]
    if isinstance(value, (dict,)):
        return ["dict", sorted([_plain(k, depth + 1), _plain(v, depth + 1)] for k, v in value.items())]
    if isinstance(value, (set, frozenset)):
        return ["set", sorted(json.dumps(_plain(v, depth + 1)) for v in value)]
    if isinstance(value, slice):
        return ["slice", [_plain(v, depth + 1) for v in (value.start, value.stop, value.step)]]
    if isinstance(value, type):
        return ["class", f"{value.__module__}.{value.__qualname__}"]
    # Ops, scalar ops, types: anything PyTensor compares through ``__props__``
    return _op(value, depth + 1)


def _op(op: Any, depth: int = 0) -> Any:
    cls = type(op)
    name = f"{cls.__module__}.{cls.__qualname__}"
    props = getattr(op, "__props__", None)
    if props is not None:
        return [name, {p: _plain(getattr(op, p), depth + 1) for p in props}]
    from pytensor.graph.type import Type

    if isinstance(op, Type):  # e.g. TensorType: its string names dtype and static shape
        return [name, str(op)]
    state = getattr(op, "__dict__", None)
    if state is None:
        raise Unkeyable(f"{name} has neither __props__ nor attributes")
    try:
        return [name, {k: _plain(v, depth + 1) for k, v in sorted(state.items()) if not k.startswith("_")}]
    except Unkeyable as exc:
        raise Unkeyable(f"{name}: {exc}") from None


def _variable(var: Any) -> Any:
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant

    vtype = str(var.type)
    if isinstance(var, SharedVariable):
        value = np.asarray(var.get_value(borrow=True))
        return ["shared", var.name, vtype, str(value.dtype), list(value.shape)]
    if isinstance(var, Constant):
        return ["constant", vtype, _data_digest(var.data)]
    return ["input", var.name, vtype]


def _dim_length(var: Any) -> int:
    """Return a dimension's length without compiling a function (a shared or constant scalar, else evaluated)."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant

    if isinstance(var, SharedVariable):
        return int(np.asarray(var.get_value(borrow=True)))
    if isinstance(var, Constant):
        return int(np.asarray(var.data))
    return int(np.asarray(var.eval()))


def _graph(outputs: list[Any]) -> list[Any]:
    from pytensor.graph.traversal import graph_inputs, io_toposort

    inputs = list(graph_inputs(outputs))
    ids: dict[Any, int] = {}
    out: list[Any] = []
    for var in inputs:
        ids[var] = len(ids)
        out.append(_variable(var))
    for node in io_toposort(inputs, outputs):
        reads = []
        for var in node.inputs:
            if var not in ids:  # a constant or shared input not listed as a graph input
                ids[var] = len(ids)
                out.append(_variable(var))
            reads.append(ids[var])
        out.append(["apply", _op(node.op), reads])
        for var in node.outputs:
            ids[var] = len(ids)
            out.append(["out", str(var.type)])
    out.append(["outputs", [ids[v] for v in outputs]])
    return out


def key_outputs(model: Any) -> list[Any]:
    """Return the graphs the key describes: the joint log density and every unobserved value's expression."""
    return [model.logp(), *model.unobserved_value_vars]


def graph_key(model: Any, extra: dict[str, Any] | None = None, outputs: list[Any] | None = None) -> str | None:
    """Return a sha256 content key of ``model``'s compiled functions, or None when it cannot be written.

    Parameters
    ----------
    model : pymc.Model
    extra : dict, optional
        Further plain values the compiled code depends on (versions, compiler settings, machine).
    outputs : list of pytensor variables, optional
        :func:`key_outputs` of ``model``, when the caller has them already.

    Returns
    -------
    str or None
        64 hexadecimal digits; None when an Op of the graph cannot be described by plain values.
    """
    try:
        value_vars = [model.rvs_to_values[rv] for rv in model.free_RVs]
        outputs = key_outputs(model) if outputs is None else outputs
        description = {
            "graph": _graph(outputs),
            "free": [[rv.name, v.name, str(v.type), _plain(model.rvs_to_transforms.get(rv))]
                     for rv, v in zip(model.free_RVs, value_vars)],
            "unobserved": [v.name for v in model.unobserved_value_vars],
            "coords": {name: _dim_length(model.dim_lengths[name]) for name in sorted(model.coords)},
            "check_bounds": bool(model.check_bounds),
            "extra": _plain(extra or {}),
        }
    except Unkeyable:
        return None
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()
