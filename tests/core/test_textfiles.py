"""The one decoding every data-file reader shares: a BOM is dropped and said, other encodings are named."""

from __future__ import annotations

import gzip

import pytest

from greenbench.core import textfiles


def test_utf8_with_and_without_a_byte_order_mark():
    assert textfiles.decode("zone,ci\nDE,300\n".encode()) == textfiles.Decoded("zone,ci\nDE,300\n", bom=False)
    assert textfiles.decode(b"\xef\xbb\xbfzone,ci\n") == textfiles.Decoded("zone,ci\n", bom=True)
    assert textfiles.decode(b"") == textfiles.Decoded("", bom=False)


@pytest.mark.parametrize(
    "data, line, words",
    [
        (gzip.compress(b"zone,ci\n"), None, "gzip-compressed, not text: gunzip it first"),
        (b"PK\x03\x04rest", None, "a zip archive"),
        ("zone,ci\n".encode("utf-16"), None, "looks like UTF-16 text (little-endian, byte order mark ff fe)"),
        (b"\xfe\xff" + "zone".encode("utf-16-be"), None, "UTF-16 text (big-endian, byte order mark fe ff)"),
        ("zone,ci\nDE,1\n".encode("utf-16-le"), None, "UTF-16 text (little-endian: a NUL byte every other byte)"),
        ("zone,ci\nDE,1\n".encode("utf-16-be"), None, "UTF-16 text (big-endian: a NUL byte every other byte)"),
        ("a\nb\ncafé\n".encode("latin-1"), 3, "byte 0xe9: looks like Latin-1/Windows-1252 text, where it is 'é'"),
        ("x\n‘quoted’\n".encode("cp1252"), 2, "byte 0x91: looks like Latin-1/Windows-1252"),
        (b"\xef\xbb\xbfok\n\x81\n", 2, "byte 0x81 at offset 6"),
    ],
)
def test_what_is_not_utf8_is_named_in_one_line_with_the_fix(data, line, words):
    with pytest.raises(textfiles.NotUTF8Text) as err:
        textfiles.decode(data)
    assert err.value.line == line and words in str(err.value)
    report = err.value.at("dir/f.csv")
    assert report.startswith("dir/f.csv:" if line is None else f"dir/f.csv:{line}: ") and "\n" not in report
    assert "UTF-8" in report or "gunzip" in report or "unzip" in report


def test_a_stray_nul_is_not_utf16():
    assert textfiles.not_text(b"sentence\tlabel\nbro\x00ken\t0\n") is None
    assert textfiles.not_text(b"a") is None
