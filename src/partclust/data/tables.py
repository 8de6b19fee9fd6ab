"""Reading delimited text tables: which encoding, which kind of file, any line ending, cells kept as text.

Shared by the dataset reader and the SAS output reader, so both treat files alike. Decoding never
substitutes a character: a file is read as UTF-8 (with or without a byte-order mark), UTF-16 or
UTF-32 with a byte-order mark, or Windows-1252 (which reads every Latin-1 text the same way); the
encoding used is returned so that it can be shown, and bytes none of these explain are refused with
the line they are on. A file that is not text at all (gzip, Excel, a SAS data set, …) is refused
saying what it is.
"""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass

import pandas as pd

from partclust.errors import DataError, PartclustError

__all__ = ["ENCODINGS", "Decoded", "decode_bytes", "decode_text", "identify_binary", "read_text_table"]

ENCODINGS: tuple[str, ...] = (
    "UTF-8", "UTF-8 with BOM", "UTF-16 (BOM)", "UTF-32 (BOM)", "Windows-1252", "Windows-1252/Latin-1",
)
"""Names :func:`decode_bytes` reports. ``Windows-1252/Latin-1``: the file uses no byte 0x80–0x9F, where
the two differ, so both read it identically; ``Windows-1252``: it does, and those bytes are read as
Windows-1252's letters and signs (Latin-1 has only invisible control characters there)."""

_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")

# (magic bytes at offset 0, what the file is, what to do)
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"\x1f\x8b", "a gzip-compressed file", "decompress it first (gunzip FILE)"),
    (b"BZh", "a bzip2-compressed file", "decompress it first (bunzip2 FILE)"),
    (b"\xfd7zXZ\x00", "an xz-compressed file", "decompress it first (unxz FILE)"),
    (b"\x28\xb5\x2f\xfd", "a Zstandard-compressed file", "decompress it first (unzstd FILE)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-format Microsoft Office file (e.g. an Excel .xls workbook)",
     "open it in Excel or LibreOffice and save the sheet as CSV"),
    (b"PAR1", "a Parquet file", "write it out as CSV (e.g. pandas.read_parquet(...).to_csv(...))"),
    (b"%PDF", "a PDF document", "export the table as CSV"),
    (b"SQLite format 3\x00", "an SQLite database", "export the table as CSV"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 / netCDF-4 file", "export the table as CSV"),
    (b"CDF\x01", "a netCDF-3 file", "export the table as CSV"),
    (b"CDF\x02", "a netCDF-3 file", "export the table as CSV"),
    (b"\x89PNG", "a PNG image", "give the CSV file"),
    (b"\xff\xd8\xff", "a JPEG image", "give the CSV file"),
    (b"ARROW1", "an Arrow/Feather file", "write it out as CSV"),
    (b"\x93NUMPY", "a NumPy .npy file", "write the table out as CSV"),
    (b"{\\rtf", "an RTF document", "export the table as CSV (plain text)"),
)
_SAS7BDAT_MAGIC = bytes.fromhex("000000000000000000000000c2ea8160b31411cfbd92080009c7318c181f1011")


@dataclass(frozen=True)
class Decoded:
    r"""Text decoded from a file's bytes (line endings normalised to ``\n``) and the encoding used.

    ``encoding`` is one of :data:`ENCODINGS`.
    """

    text: str
    encoding: str


def identify_binary(raw: bytes) -> str | None:
    """Say what a file is when it is not text (``"a gzip-compressed file; decompress it …"``), else None.

    Recognises compressed files, Excel and other Office files (old and new format), ZIP archives,
    SAS data sets, Parquet, PDF, SQLite, HDF5/netCDF, images, and any other file with NUL bytes in its
    first 8 KiB (text in UTF-16/32 with a byte-order mark is text, not binary).
    """
    head = raw[:8192]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)):
        return None
    for magic, what, todo in _MAGIC:
        if head.startswith(magic):
            return f"{what}; {todo}"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        if b"xl/" in raw[:65536]:
            return "an Excel workbook (.xlsx, a ZIP archive); open it in Excel or LibreOffice and save the sheet as CSV"
        if b"content.xml" in raw[:65536] or b"opendocument" in raw[:65536]:
            return "an OpenDocument spreadsheet or document (a ZIP archive); save the sheet as CSV"
        return "a ZIP archive; extract the CSV file from it first (unzip FILE)"
    if head.startswith(_SAS7BDAT_MAGIC):
        return "a SAS data set (.sas7bdat); export it as CSV with PROC EXPORT"
    if b"\x00" in head:
        odd = head[1::2].count(0) > 0.3 * len(head[1::2])
        even = head[0::2].count(0) > 0.3 * len(head[0::2])
        if odd != even:
            return ("text in UTF-16 without a byte-order mark, it seems; save it as UTF-8 "
                    "(or as UTF-16 with a byte-order mark)")
        return "a binary file (it contains NUL bytes), not CSV text; give the CSV file"
    return None


def _line_of(raw: bytes, offset: int) -> int:
    """1-based line of a byte offset (any line ending counts)."""
    before = raw[:offset].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return before.count(b"\n") + 1


def decode_bytes(raw: bytes, source: str = "the file", error: type[PartclustError] = DataError) -> Decoded:
    r"""Decode a text file's bytes without substituting any character, and say which encoding was used.

    Tried in order: a byte-order mark (UTF-32, UTF-8, UTF-16) decides; otherwise UTF-8; otherwise
    Windows-1252, which reads Latin-1 text identically except for bytes 0x80–0x9F (Latin-1 control
    characters, Windows-1252 letters and signs such as ``€ Š Ž œ``). Line endings (``\r\n``, old-Mac
    ``\r``) become ``\n``.

    Parameters
    ----------
    raw : bytes
        The file's content.
    source : str
        How to name the file in an error.
    error : type of PartclustError
        The error class raised (the SAS reader passes :class:`~partclust.errors.SasOutputError`).

    Returns
    -------
    Decoded
        The text and the encoding's name (one of :data:`ENCODINGS`).

    Raises
    ------
    DataError
        (or ``error``) when the file is not text (saying what it is, e.g. gzip or Excel), when a
        byte-order mark's encoding does not decode, or when the bytes are neither UTF-8 nor
        Windows-1252 (naming the byte and its line); the message says to save the file as UTF-8.
    """
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        codec, name, family = "utf-32", "UTF-32 (BOM)", "UTF-32"
    elif raw.startswith(codecs.BOM_UTF8):
        codec, name, family = "utf-8-sig", "UTF-8 with BOM", "UTF-8"
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec, name, family = "utf-16", "UTF-16 (BOM)", "UTF-16"
    else:
        codec, name, family = "", "", ""
    if not codec:
        what = identify_binary(raw)
        if what is not None:
            raise error(f"{source} is {what}.")
    if codec:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            raise error(
                f"{source} starts with a {family} byte-order mark but is not valid {family} "
                f"(byte {exc.object[exc.start]:#04x} at offset {exc.start}). Save the file again as UTF-8."
            ) from None
    else:
        try:
            text, name = raw.decode("utf-8"), "UTF-8"
        except UnicodeDecodeError as utf8_exc:
            bad = next((k for k, b in enumerate(raw) if b in _CP1252_UNDEFINED), None)
            if bad is not None:
                first = utf8_exc.start
                raise error(
                    f"{source} is neither UTF-8 (byte {raw[first]:#04x} on line {_line_of(raw, first)} is not "
                    f"valid UTF-8) nor Windows-1252/Latin-1 text (byte {raw[bad]:#04x} on line "
                    f"{_line_of(raw, bad)} is undefined in Windows-1252 and a control character in Latin-1). "
                    "Save the file as UTF-8 (in Excel: CSV UTF-8) and read it again."
                ) from None
            text = raw.decode("cp1252")
            name = "Windows-1252" if any(0x80 <= b <= 0x9F for b in raw) else "Windows-1252/Latin-1"
    if "\x00" in text:
        raise error(f"{source} contains NUL characters after decoding as {name}: it is not a CSV text file.")
    return Decoded(text.replace("\r\n", "\n").replace("\r", "\n"), name)


def decode_text(raw: bytes) -> str:
    """Return the text of :func:`decode_bytes` alone (the encoding's name dropped)."""
    return decode_bytes(raw).text


def read_text_table(text: str, *, skipinitialspace: bool = False) -> pd.DataFrame:
    """Parse CSV text with every cell as a string (no NA conversion), column names stripped.

    Raises
    ------
    pandas.errors.ParserError, pandas.errors.EmptyDataError
        Left to the caller, which names the file in its own error.
    """
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=skipinitialspace)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame
