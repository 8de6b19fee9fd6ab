"""Encodings and file types: every text encoding read without substituting a character, and named;
anything else refused with one sentence saying what the file is."""

from __future__ import annotations

import codecs
import gzip
import io
import zipfile

import pytest
from helpers import unbalanced_frame

from partclust.data import DataError, decode_bytes, load_design, resolve_data_path
from partclust.runner.cli import main

NAMES = ["Björn", "Bjørn", "Chloé", "Øyvind", "Zoë"]


def _table(labels=NAMES) -> str:
    """A small valid design whose treated clusters carry ``labels``, as CSV text (\\r\\n endings)."""
    rows = ["i,j,treat,y"]
    k = 0
    for lab in labels:
        for i in range(3):
            k += 1
            rows.append(f"{i + 1},{lab},1,{0.1 * k - 0.7 * (k % 3):.3f}")
    for c in range(6):
        rows.append(f"1,ctl{c},0,{0.3 * c - 0.8:.3f}")
    return "\r\n".join(rows) + "\r\n"


def test_the_shared_windows_1252_file_keeps_bjorn_and_bjørn_apart(case):
    d = load_design(case("labels_cp1252.csv"))
    assert d.n_clusters == 10
    assert {"Björn", "Bjørn", "Øyvind", "Åsa"} <= set(d.clusters)
    assert set(d.cluster_sizes.values()) == {10}
    assert d.encoding == "Windows-1252/Latin-1"
    assert not any("\ufffd" in c for c in d.sas_clusters)


@pytest.mark.parametrize("codec, bom, name", [
    ("utf-8", b"", "UTF-8"),
    ("utf-8", codecs.BOM_UTF8, "UTF-8 with BOM"),
    ("utf-16-le", codecs.BOM_UTF16_LE, "UTF-16 (BOM)"),
    ("utf-16-be", codecs.BOM_UTF16_BE, "UTF-16 (BOM)"),
    ("utf-32-le", codecs.BOM_UTF32_LE, "UTF-32 (BOM)"),
    ("cp1252", b"", "Windows-1252/Latin-1"),
])
def test_each_encoding_reads_the_same_table_and_is_named(tmp_path, codec, bom, name):
    path = tmp_path / f"{codec}.csv"
    path.write_bytes(bom + _table().encode(codec))
    d = load_design(path)
    assert d.encoding == name
    assert d.clusters == tuple(sorted(NAMES))
    ref = tmp_path / "ref.csv"
    ref.write_bytes(_table().encode("utf-8"))
    assert d.content_sha256 == load_design(ref).content_sha256  # same data, whatever the bytes
    assert d.sha256 != load_design(ref).sha256 or codec == "utf-8" and not bom


def test_windows_1252_letters_that_latin1_lacks(tmp_path):
    """Bytes 0x80–0x9F are letters in Windows-1252 (Š, Ž, œ, €) and controls in Latin-1."""
    labels = ["Šárka", "Žofie", "Cœur", "€uro", "Šarka"]
    path = tmp_path / "cp1252.csv"
    path.write_bytes(_table(labels).encode("cp1252"))
    d = load_design(path)
    assert d.encoding == "Windows-1252"
    assert set(d.clusters) == set(labels) and d.n_clusters == 5


def test_bytes_no_encoding_explains_are_refused_naming_the_line(tmp_path):
    raw = _table().encode("cp1252").replace(b"Zo\xeb", b"Zo\x81")  # 0x81: undefined in Windows-1252
    path = tmp_path / "bad.csv"
    path.write_bytes(raw)
    with pytest.raises(DataError, match=r"neither UTF-8 \(byte 0xf6 on line 2.*byte 0x81 on line 14") as info:
        load_design(path)
    assert "Save the file as UTF-8" in str(info.value)


def test_a_byte_order_mark_that_lies_is_refused(tmp_path):
    path = tmp_path / "lying.csv"
    path.write_bytes(codecs.BOM_UTF8 + _table().encode("cp1252"))
    with pytest.raises(DataError, match="starts with a UTF-8 byte-order mark but is not valid UTF-8"):
        load_design(path)


def _xlsx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    return buf.getvalue()


@pytest.mark.parametrize("make, what", [
    (lambda t: gzip.compress(t.encode()), "is a gzip-compressed file; decompress it first"),
    (lambda t: _xlsx_bytes(), "is an Excel workbook (.xlsx"),
    (lambda t: bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 200, "old-format Microsoft Office file"),
    (lambda t: b"PK\x03\x04" + b"\x00" * 40 + b"data.csv", "is a ZIP archive"),
    (lambda t: b"%PDF-1.7\n" + b"\x00\x01" * 50, "is a PDF document"),
    (lambda t: bytes(range(256)) * 4, "is a binary file (it contains NUL bytes)"),
    (lambda t: t.encode("utf-16-le"), "UTF-16 without a byte-order mark"),
])
def test_files_that_are_not_csv_text_say_what_they_are(tmp_path, make, what):
    path = tmp_path / "data.csv"
    path.write_bytes(make(_table()))
    with pytest.raises(DataError) as info:
        load_design(path)
    assert what in str(info.value) and str(path) in str(info.value)


def test_a_directory_is_named_as_such(tmp_path, monkeypatch):
    (tmp_path / "run1.csv").write_text(_table())
    with pytest.raises(DataError, match=r"is a directory, not a data file \(it holds run1.csv\)"):
        resolve_data_path(tmp_path)
    monkeypatch.setenv("RUN1_CSV", str(tmp_path))
    with pytest.raises(DataError, match="is a directory"):
        resolve_data_path(None)


def test_semicolon_separated_files_get_a_hint(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text(_table().replace(",", ";"))
    with pytest.raises(DataError, match="separated by semicolons"):
        load_design(path)


def test_decode_bytes_never_substitutes():
    for raw in (b"a,\xe9\r\n", "a,é".encode(), codecs.BOM_UTF16_LE + "a,é".encode("utf-16-le")):
        out = decode_bytes(raw)
        assert "\ufffd" not in out.text and "é" in out.text


# ---- through the command line: the silent fault of a merged cluster, and bad files ----------------
def test_cli_validate_names_the_encoding_and_keeps_the_clusters(case, capsys):
    assert main(["validate", "--data", str(case("labels_cp1252.csv"))]) == 0
    out = capsys.readouterr().out
    assert "encoding: Windows-1252/Latin-1" in out
    assert "treated clusters: 10" in out and "Björn: 10" in out and "Bjørn: 10" in out


@pytest.mark.parametrize("kind", ["gzip", "directory", "xlsx"])
def test_cli_refuses_bad_files_with_exit_2_and_one_line(tmp_path, capsys, kind):
    if kind == "directory":
        path = tmp_path
    else:
        path = tmp_path / "data.csv"
        path.write_bytes(gzip.compress(_table().encode()) if kind == "gzip" else _xlsx_bytes())
    for command in (["validate"], ["exact", "--model", "single", "--out", str(tmp_path / "x.csv")], ["reml"]):
        assert main([*command, "--data", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert {"gzip": "gzip", "directory": "is a directory", "xlsx": "Excel"}[kind] in err


def test_unbalanced_frame_still_reads(unbalanced_csv):
    d = load_design(unbalanced_csv)
    assert d.encoding == "UTF-8" and d.n_clusters == unbalanced_frame()["j"][lambda s: s.str.startswith("grp")].nunique()
