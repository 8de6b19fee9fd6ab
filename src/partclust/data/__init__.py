"""Data layer: find the dataset, read it, validate it into a frozen :class:`Design`.

``source`` (where the file comes from, download and checksum) → ``tables`` (encodings, file types,
text reading) → ``labels`` (when two ids are one) → ``design`` (validation and the :class:`Design`),
whose identity is ``identity``'s canonical hash of the validated table.
"""

from partclust.data.design import REQUIRED_COLUMNS, Design, design_frame, load_design, read_table, validate
from partclust.data.identity import content_sha256, same_data
from partclust.data.labels import normalize_label, normalize_labels
from partclust.data.source import DATA_SHA256, DATA_URL, ENV_VAR, download, resolve_data_path, sha256_of
from partclust.data.tables import ENCODINGS, decode_bytes
from partclust.errors import DataError

__all__ = [
    "DATA_SHA256", "DATA_URL", "ENCODINGS", "ENV_VAR", "REQUIRED_COLUMNS", "DataError", "Design", "content_sha256",
    "decode_bytes", "design_frame", "download", "load_design", "normalize_label", "normalize_labels", "read_table",
    "resolve_data_path", "same_data", "sha256_of", "validate",
]
