r"""Which dataset is this? A canonical hash of the parsed, validated table, and the byte hash beside it.

Two files hold the same data when their validated tables are equal, whatever their bytes: line
endings (run1 is published with old-Mac ``\r``; a copy saved on Linux has ``\n``), a byte-order
mark, the text encoding, blanks around cells, the way numbers are written (``1.0`` or ``1``,
``0.50`` or ``.5``), column order and extra columns the models do not read. The canonical hash
(:func:`content_sha256`) identifies data everywhere results are matched to data — run records, the
published PyMC 2 (2011) reference, the references folder; the SHA-256 of the file's bytes
(:func:`~partclust.data.source.sha256_of`) is kept beside it as provenance and is what a download is
checked against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["CANONICAL_VERSION", "content_sha256", "same_data"]

CANONICAL_VERSION = "partclust-table-v1"
"""Names the canonical form below; a change of form gets a new name, so old hashes never match by accident."""


def content_sha256(subject: Sequence[str], cluster: Sequence[str], treat: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of the canonical form of a validated table (the columns the models read, rows in file order).

    The canonical form is, in this order: :data:`CANONICAL_VERSION` and the number of rows; the
    subject ids ``i`` and the cluster ids ``j`` after :func:`~partclust.data.labels.normalize_label`,
    each column UTF-8 encoded and NUL-separated; ``treat`` as one byte (0 or 1) per row; ``y`` as
    little-endian IEEE-754 doubles (``-0.0`` written as ``0.0``). Row order is kept: the same rows in
    another order are another table.

    Parameters
    ----------
    subject, cluster : sequence of str
        Normalised ids, one per row.
    treat : numpy.ndarray
        0/1, one per row.
    y : numpy.ndarray
        Finite outcomes, one per row.

    Returns
    -------
    str
        64 hex digits.
    """
    h = hashlib.sha256()
    h.update(f"{CANONICAL_VERSION}\n{len(y)}\n".encode())
    for column in (subject, cluster):
        h.update("\x00".join(column).encode("utf-8"))
        h.update(b"\x00\x01")
    h.update(np.asarray(treat, dtype=np.uint8).tobytes())
    h.update((np.asarray(y, dtype="<f8") + 0.0).tobytes())
    return h.hexdigest()


def same_data(recorded: Mapping[str, Any], content_sha256: str, sha256: str = "") -> bool:
    """Whether a record's ``data`` entry names the dataset with these hashes.

    A record written since the canonical hash exists carries ``content_sha256`` and is matched by it
    alone; an older record (only the file's ``sha256``) matches when its bytes were the same file.

    Parameters
    ----------
    recorded : mapping
        The ``data`` entry of a run record or of a published reference's provenance.
    content_sha256 : str
        The canonical hash of the dataset at hand.
    sha256 : str
        The SHA-256 of its file's bytes.
    """
    if recorded.get("content_sha256"):
        return recorded["content_sha256"] == content_sha256
    return bool(sha256) and recorded.get("sha256") == sha256
