"""Data layer: find the dataset, read it, validate it into a frozen :class:`Design`.

``source`` (where the file comes from, download and checksum) → ``tables`` (tolerant text reading)
→ ``design`` (validation and the :class:`Design`).
"""

from partclust.data.design import MISSING_LABELS, REQUIRED_COLUMNS, Design, design_frame, load_design, read_table, validate
from partclust.data.source import DATA_SHA256, DATA_URL, ENV_VAR, download, resolve_data_path, sha256_of
from partclust.errors import DataError

__all__ = [
    "DATA_SHA256", "DATA_URL", "ENV_VAR", "MISSING_LABELS", "REQUIRED_COLUMNS", "DataError", "Design", "design_frame", "download",
    "load_design", "read_table", "resolve_data_path", "sha256_of", "validate",
]
