"""Strict, minimal DER helpers for the few structures the JPKI code reads itself.

`cryptography` parses certificates and CRLs; these helpers cover what it does not expose in the
shape we need: the length header of a certificate on the card, the exact-one-object rule, the
UTF8String inside a SAN otherName, PEM blocks, and the revoked-certificate list of a very large
CRL. Every function raises `DerError` (a `ValueError`) and nothing else on hostile input.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = [
    "DerError",
    "der_total_length",
    "parse_utf8string",
    "pem_blocks",
    "read_tlv",
    "require_single_object",
    "split_signed",
]

TAG_BOOLEAN = 0x01
TAG_INTEGER = 0x02
TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_ENUMERATED = 0x0A
TAG_UTF8STRING = 0x0C
TAG_UTCTIME = 0x17
TAG_GENERALIZEDTIME = 0x18
TAG_SEQUENCE = 0x30
TAG_CONTEXT_0_CONSTRUCTED = 0xA0


class DerError(ValueError):
    """The bytes are not the DER structure that was expected."""


def read_tlv(buf: bytes | memoryview, pos: int, end: int | None = None) -> tuple[int, int, int]:
    """Read one tag-length-value at ``pos`` and return ``(tag, content_start, content_end)``.

    Only single-byte tags and definite, minimally encoded lengths are accepted (DER). The value
    must fit before ``end`` (default: the end of ``buf``). Raises DerError otherwise.
    """
    size = len(buf)
    limit = size if end is None else end
    if pos < 0 or limit > size or pos + 2 > limit:
        raise DerError("truncated header")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        # High tag numbers never occur in what we read; refusing them keeps parsing simple.
        raise DerError("multi-byte tag")
    first = buf[pos + 1]
    if first < 0x80:
        start = pos + 2
        length = first
    elif first == 0x81:
        if pos + 3 > limit:
            raise DerError("truncated length")
        length = buf[pos + 2]
        if length < 0x80:
            raise DerError("non-minimal length")
        start = pos + 3
    elif first == 0x82:
        if pos + 4 > limit:
            raise DerError("truncated length")
        if buf[pos + 2] == 0:
            raise DerError("non-minimal length")
        length = buf[pos + 2] << 8 | buf[pos + 3]
        start = pos + 4
    else:
        count = first & 0x7F
        if count == 0:
            raise DerError("indefinite length is not DER")
        if count > 4:
            raise DerError("length too large")
        if pos + 2 + count > limit:
            raise DerError("truncated length")
        raw = bytes(buf[pos + 2 : pos + 2 + count])
        if raw[0] == 0:
            raise DerError("non-minimal length")
        length = int.from_bytes(raw, "big")
        start = pos + 2 + count
    content_end = start + length
    if content_end > limit:
        raise DerError("value runs past the end")
    return tag, start, content_end


def der_total_length(header: bytes) -> int:
    """Return the total size (header + value) of the DER object whose first bytes are ``header``.

    Used to read a certificate from the card by its length header: give at least 2 bytes, and as
    many as the length form needs (4 for ``30 82 HH LL``). Raises DerError on a malformed or
    incomplete header.
    """
    if len(header) < 2:
        raise DerError("truncated header")
    if header[0] & 0x1F == 0x1F:
        raise DerError("multi-byte tag")
    first = header[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0:
        raise DerError("indefinite length is not DER")
    if count > 4:
        raise DerError("length too large")
    if len(header) < 2 + count:
        raise DerError("truncated length")
    raw = header[2 : 2 + count]
    if raw[0] == 0:
        raise DerError("non-minimal length")
    length = int.from_bytes(raw, "big")
    if length < 0x80:
        raise DerError("non-minimal length")
    return 2 + count + length


def require_single_object(data: bytes, tag: int = TAG_SEQUENCE) -> None:
    """Check that ``data`` is exactly one DER object with the given outer tag, nothing after it."""
    got, _start, end = read_tlv(data, 0)
    if got != tag:
        raise DerError(f"expected tag {tag:#04x}, got {got:#04x}")
    if end != len(data):
        raise DerError("trailing bytes after the object")


_PEM_RE = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END ([A-Z0-9 ]+)-----",
    re.DOTALL,
)


def pem_blocks(data: bytes, label: str) -> list[bytes]:
    """Decode every PEM block labelled ``label`` in ``data`` to DER bytes (strict base64).

    Blocks with other labels are skipped. Raises DerError when a block with this label is
    malformed (mismatched END label, bad base64).
    """
    out: list[bytes] = []
    for match in _PEM_RE.finditer(data):
        begin, body, end_label = match.group(1), match.group(2), match.group(3)
        if begin != label.encode():
            continue
        if end_label != begin:
            raise DerError("PEM END label does not match BEGIN")
        compact = b"".join(body.split())
        try:
            out.append(base64.b64decode(compact, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise DerError("bad base64 in PEM block") from exc
    return out


def parse_utf8string(data: bytes) -> str:
    """Decode ``data``, which must be exactly one DER UTF8String, to ``str``."""
    tag, start, end = read_tlv(data, 0)
    if tag != TAG_UTF8STRING:
        raise DerError("expected UTF8String")
    if end != len(data):
        raise DerError("trailing bytes after UTF8String")
    try:
        return data[start:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DerError("invalid UTF-8") from exc


def split_signed(der: bytes) -> tuple[bytes, bytes, bytes]:
    """Split a signed DER object (certificate, CRL) into ``(tbs, algorithm, signature)``.

    ``tbs`` and ``algorithm`` are the exact DER of those elements; ``signature`` is the BIT
    STRING content without its unused-bits byte (which must be zero). Raises DerError.
    """
    tag, start, end = read_tlv(der, 0)
    if tag != TAG_SEQUENCE or end != len(der):
        raise DerError("not a single SEQUENCE")
    tag, _s, tbs_end = read_tlv(der, start, end)
    if tag != TAG_SEQUENCE:
        raise DerError("to-be-signed part is not a SEQUENCE")
    tag, _s, alg_end = read_tlv(der, tbs_end, end)
    if tag != TAG_SEQUENCE:
        raise DerError("signature algorithm is not a SEQUENCE")
    tag, sig_start, sig_end = read_tlv(der, alg_end, end)
    if tag != 0x03 or sig_end != end or sig_end == sig_start or der[sig_start] != 0:
        raise DerError("bad signature BIT STRING")
    return der[start:tbs_end], der[tbs_end:alg_end], der[sig_start + 1 : sig_end]
