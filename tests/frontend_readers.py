"""Byte-level readers that look where ComfyUI's front end (1.58) looks when a file is dropped on the canvas.

Independent of Pillow and PyAV (which `ghibli_core.embedded` uses), so a file that only our own reader
understands fails here. The real front end is exercised in Chromium by test_comfyui.py.
"""
from __future__ import annotations

import json
import struct
import zlib


def png_text(data: bytes) -> dict[str, str]:
    """tEXt / iTXt chunks by keyword."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, out = 8, {}
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind in (b"tEXt", b"iTXt"):
            key, rest = body.split(b"\0", 1)
            if kind == b"iTXt":
                compressed, _method = rest[0], rest[1]
                rest = rest[2:].split(b"\0", 2)[2]  # language tag, translated keyword
                rest = zlib.decompress(rest) if compressed else rest
            out[key.decode("latin-1")] = rest.decode("utf-8")
        pos += 12 + length
    return out


def webp_exif_entries(data: bytes) -> dict[str, str]:
    """The first EXIF chunk's first IFD, ASCII entries split at the first ':' (as the front end does)."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    pos = 12
    while pos < len(data):
        kind, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if kind == b"EXIF":
            exif = data[pos + 8:pos + 8 + size]
            if exif[:6] == b"Exif\0\0":
                exif = exif[6:]
            endian = "<" if exif[:2] == b"II" else ">"
            ifd = struct.unpack(endian + "I", exif[4:8])[0]
            out = {}
            for i in range(struct.unpack(endian + "H", exif[ifd:ifd + 2])[0]):
                _tag, kind_, count, offset = struct.unpack(endian + "HHII", exif[ifd + 2 + 12 * i:ifd + 14 + 12 * i])
                if kind_ == 2:
                    text = exif[offset:offset + count - 1].decode("utf-8")
                    key, _, value = text.partition(":")
                    out[key] = value
            return out
        pos += 8 + size + size % 2
    return {}


def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size < 8 or pos + size > end:
            return
        yield kind, pos + 8, pos + size
        pos += size


def _box(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in _boxes(data, start, end) if k == kind), None)


def mp4_mdta(data: bytes) -> dict[str, str]:
    """moov/udta/meta: `keys` names, `ilst` items' `data` boxes (the mdta layout FFmpeg's use_metadata_tags writes)."""
    moov = _box(data, 0, len(data), b"moov")
    udta = moov and _box(data, *moov, b"udta")
    meta = udta and _box(data, *udta, b"meta")
    if not meta:
        return {}
    body = (meta[0] + 4, meta[1])  # full box: version + flags
    keys_box, ilst = _box(data, *body, b"keys"), _box(data, *body, b"ilst")
    names, pos = {}, keys_box[0] + 8
    for index in range(1, struct.unpack(">I", data[keys_box[0] + 4:keys_box[0] + 8])[0] + 1):
        size = struct.unpack(">I", data[pos:pos + 4])[0]
        names[index] = data[pos + 8:pos + size].decode("utf-8")
        pos += size
    out = {}
    for kind, start, end in _boxes(data, *ilst):
        value = _box(data, start, end, b"data")
        out[names[struct.unpack(">I", kind)[0]]] = data[value[0] + 8:value[1]].decode("utf-8")
    return out


def _vint(data: bytes, pos: int) -> tuple[int, int]:
    first, length = data[pos], 1
    while not first & (0x80 >> (length - 1)):
        length += 1
    value = first & (0xFF >> length)
    for b in data[pos + 1:pos + length]:
        value = (value << 8) | b
    return value, length


def webm_simple_tags(data: bytes) -> dict[str, str]:
    """Every SimpleTag (0x67C8) in the first 2 MiB: TagName (0x45A3) -> TagString (0x4487)."""
    head = data[:2 << 20]
    assert head[:4] == b"\x1a\x45\xdf\xa3"
    out, pos = {}, 0
    while (pos := head.find(b"\x67\xc8", pos)) != -1:
        size, n = _vint(head, pos + 2)
        body, end = pos + 2 + n, pos + 2 + n + size
        name = value = None
        inner = body
        while inner < end:
            ident = head[inner:inner + 2]
            length, m = _vint(head, inner + 2)
            payload = head[inner + 2 + m:inner + 2 + m + length]
            if ident == b"\x45\xa3":
                name = payload.decode("utf-8")
            elif ident == b"\x44\x87":
                value = payload.decode("utf-8")
            inner += 2 + m + length
        if name is not None and value is not None:
            out[name] = value
        pos = end
    return out


def workflow_and_prompt(data: bytes, ext: str) -> tuple[dict | None, dict | None]:
    """(workflow, prompt) the way the front end finds them for a file of this extension."""
    found = {".png": png_text, ".webp": webp_exif_entries, ".mp4": mp4_mdta, ".webm": webm_simple_tags}[ext](data)
    lower = {k.lower(): v for k, v in found.items()} if ext == ".webm" else found
    get = lambda key: json.loads(lower[key]) if key in lower else None  # noqa: E731
    return get("workflow"), get("prompt")
