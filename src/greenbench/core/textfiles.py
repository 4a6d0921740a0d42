"""Decode a data file's bytes as UTF-8 text, the one way every reader does (SST-2 TSV, carbon traces, config
YAML), and say in one line what a file that is not UTF-8 text is instead.

Pure functions, no I/O: a reader reads the bytes, calls :func:`decode`, and turns a :class:`NotUTF8Text` into
its own error class with :meth:`NotUTF8Text.at` (``file:line: what was found; how to fix it``). A UTF-8 byte
order mark (Excel writes one) is dropped and reported (``bom``), never refused; a gzip or zip file, UTF-16
text and Latin-1/Windows-1252 bytes are each named with the fix, instead of a list of bad bytes."""

from __future__ import annotations

from dataclasses import dataclass

UTF8_BOM = b"\xef\xbb\xbf"
BOM_NOTE = "UTF-8 byte order mark (BOM) ignored"  # what a reader logs, once per file, after its name
SAMPLE = 4096  # bytes looked at to tell UTF-16 without a byte order mark


class NotUTF8Text(ValueError):
    """Bytes that are not UTF-8 text. ``str()`` is what they look like and the fix, without a file name;
    ``line`` is the 1-based line of the first bad byte (None: the whole file, e.g. compressed)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line

    def at(self, path) -> str:
        """The one-line report for ``path``: ``path:line: message`` (``path: message`` for a whole file)."""
        return f"{path}{'' if self.line is None else f':{self.line}'}: {self}"


@dataclass(frozen=True)
class Decoded:
    text: str
    bom: bool  # the bytes began with a UTF-8 byte order mark, dropped from ``text``


def _utf16_without_bom(sample: bytes) -> str | None:
    """'little-endian' / 'big-endian' when ``sample`` has a NUL byte every other byte (ASCII as UTF-16)."""
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even, odd = sample[0 : 2 * pairs : 2], sample[1 : 2 * pairs : 2]
    for nul_half, text_half, order in ((odd, even, "little-endian"), (even, odd, "big-endian")):
        if nul_half.count(0) >= 0.8 * pairs and text_half.count(0) <= 0.1 * pairs:
            return order
    return None


def not_text(data: bytes) -> str | None:
    """What ``data`` is when it is plainly not UTF-8 text (compressed, an archive, UTF-16), with the fix; None
    otherwise (it may still hold a bad byte: :func:`decode` says where)."""
    if data.startswith(b"\x1f\x8b"):
        return "gzip-compressed, not text: gunzip it first"
    if data.startswith(b"PK\x03\x04"):
        return "a zip archive (an .xlsx workbook?), not text: unzip it, or export it as UTF-8 text (CSV)"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        order = "little-endian" if data.startswith(b"\xff\xfe") else "big-endian"
        mark = data[:2].hex(" ")
        return f"looks like UTF-16 text ({order}, byte order mark {mark}), not UTF-8: save it as UTF-8"
    order = _utf16_without_bom(data[:SAMPLE])
    if order:
        return f"looks like UTF-16 text ({order}: a NUL byte every other byte), not UTF-8: save it as UTF-8"
    return None


def bad_byte(data: bytes, offset: int) -> str:
    """Why the byte at ``offset`` (where UTF-8 decoding failed) is there: Latin-1/Windows-1252 text, most often."""
    byte = data[offset]
    if byte >= 0x80:
        char = bytes([byte]).decode("cp1252", errors="replace")
        if char != "\ufffd" and char.isprintable():
            return f"byte {byte:#04x}: looks like Latin-1/Windows-1252 text, where it is {char!r}"
    return f"byte {byte:#04x} at offset {offset}"


def decode(data: bytes) -> Decoded:
    """``data`` as text (a leading UTF-8 BOM dropped), or :class:`NotUTF8Text` naming what it looks like."""
    what = not_text(data)
    if what:
        raise NotUTF8Text(what)
    bom = data.startswith(UTF8_BOM)
    skip = len(UTF8_BOM) if bom else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        line = data[:offset].count(b"\n") + 1
        raise NotUTF8Text(f"not valid UTF-8 ({bad_byte(data, offset)}); save it as UTF-8", line) from None
    return Decoded(text, bom)


__all__ = ["BOM_NOTE", "Decoded", "NotUTF8Text", "UTF8_BOM", "bad_byte", "decode", "not_text"]
