"""Data layer: find the dataset, read it, validate it into a frozen :class:`Design`.

``source`` (where the file comes from, download and checksum) → ``tables`` (encodings, file types,
text reading) → ``labels`` (when two ids are one) → ``design`` (validation and the :class:`Design`),
whose identity is ``identity``'s canonical hash of the validated table.

Every name is loaded from its module on first use (PEP 562), so finding the file (``source``, no pandas) does not
import pandas (0.6–0.9 s here): a missing or unreadable ``--data`` is refused before it is loaded.
"""

from __future__ import annotations

import importlib
from typing import Any

from partclust.errors import DataError

_WHERE = {
    **dict.fromkeys(("MISSING_LABELS", "REQUIRED_COLUMNS", "Design", "design_frame", "load_design", "read_table",
                     "validate"), "design"),
    **dict.fromkeys(("content_sha256", "same_data"), "identity"),
    **dict.fromkeys(("normalize_label", "normalize_labels"), "labels"),
    **dict.fromkeys(("DATA_SHA256", "DATA_URL", "ENV_VAR", "download", "resolve_data_path", "sha256_of"), "source"),
    **dict.fromkeys(("ENCODINGS", "decode_bytes"), "tables"),
}

__all__ = [
    "DATA_SHA256", "DATA_URL", "ENCODINGS", "ENV_VAR", "MISSING_LABELS", "REQUIRED_COLUMNS", "DataError", "Design",
    "content_sha256", "decode_bytes", "design_frame", "download", "load_design", "normalize_label", "normalize_labels",
    "read_table", "resolve_data_path", "same_data", "sha256_of", "validate",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'partclust.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"partclust.data.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
