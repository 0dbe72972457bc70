"""Certificate revocation lists: loaded from a directory, checked, indexed per issuer key.

A JPKI CRL may hold a very large number of entries. `cryptography` checks each CRL's signature
and header, but its `get_revoked_certificate_by_serial_number` scans the whole list and its
per-entry objects are slow to build a million times, so the revokedCertificates sequence is
walked here, once, straight from the signed DER, into a dict keyed by serial number.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from cryptography import x509

from .der import DerError, pem_blocks, read_tlv, require_single_object
from .signature import signed_by
from .trust import Anchor, TrustStore

__all__ = [
    "CRLStore",
    "CrlError",
    "LoadedCrl",
    "RevocationStatus",
    "index_revoked",
    "load_crl_file",
]

log = logging.getLogger(__name__)

# RFC 5280 CRLReason values; JPKI uses most of them (jpki.md §4).
CRL_REASONS: dict[int, str] = {
    0: "unspecified",
    1: "keyCompromise",
    2: "cACompromise",
    3: "affiliationChanged",
    4: "superseded",
    5: "cessationOfOperation",
    6: "certificateHold",
    8: "removeFromCRL",
    9: "privilegeWithdrawn",
    10: "aACompromise",
}
NO_REASON = -1

_OID_REASON_CODE = bytes.fromhex("0603551d15")  # 2.5.29.21
_OID_INVALIDITY_DATE = bytes.fromhex("0603551d18")  # 2.5.29.24
_KNOWN_CRL_EXTENSIONS = (x509.CRLNumber, x509.AuthorityKeyIdentifier, x509.IssuerAlternativeName)


class CrlError(ValueError):
    """A CRL file that cannot be used."""


@dataclass(frozen=True, slots=True)
class LoadedCrl:
    """One verified CRL and its index of revoked serials."""

    source: str
    anchor: Anchor
    number: int
    this_update: datetime
    next_update: datetime | None
    revoked: Mapping[int, int] = field(repr=False)  # serial -> RFC 5280 reason (-1: none given)

    def is_current(self, at: datetime) -> bool:
        """True when ``at`` lies in [thisUpdate, nextUpdate); a CRL without nextUpdate never is."""
        return self.next_update is not None and self.this_update <= at < self.next_update


@dataclass(frozen=True, slots=True)
class RevocationStatus:
    """Result of a revocation lookup."""

    state: Literal["good", "revoked", "unknown"]
    reason: str | None = None
    crl: LoadedCrl | None = None


def _skip(buf: bytes, pos: int, end: int, tags: tuple[int, ...]) -> int:
    tag, _start, stop = read_tlv(buf, pos, end)
    if tag not in tags:
        raise DerError(f"unexpected tag {tag:#04x}")
    return stop


def _tbs_revoked_bounds(der: bytes) -> tuple[int, int] | None:
    """Locate the revokedCertificates SEQUENCE inside a DER CertificateList (None if absent)."""
    tag, s0, e0 = read_tlv(der, 0)
    if tag != 0x30 or e0 != len(der):
        raise DerError("not a single SEQUENCE")
    tag, ts, te = read_tlv(der, s0, e0)
    if tag != 0x30:
        raise DerError("tbsCertList is not a SEQUENCE")
    pos = ts
    tag, _s, _e = read_tlv(der, pos, te)
    if tag == 0x02:  # version
        pos = _e
    pos = _skip(der, pos, te, (0x30,))  # signature AlgorithmIdentifier
    pos = _skip(der, pos, te, (0x30,))  # issuer Name
    pos = _skip(der, pos, te, (0x17, 0x18))  # thisUpdate
    bounds: tuple[int, int] | None = None
    if pos < te and der[pos] in (0x17, 0x18):
        pos = _skip(der, pos, te, (0x17, 0x18))  # nextUpdate
    if pos < te and der[pos] == 0x30:
        _tag, rs, re_ = read_tlv(der, pos, te)
        bounds = (rs, re_)
        pos = re_
    if pos < te:
        pos = _skip(der, pos, te, (0xA0,))  # crlExtensions
    if pos != te:
        raise DerError("unexpected data in tbsCertList")
    return bounds


def _entry_reason(der: bytes, pos: int, end: int) -> int:
    """Parse crlEntryExtensions [pos, end) and return the reason code (or NO_REASON)."""
    reason = NO_REASON
    while pos < end:
        tag, es, ee = read_tlv(der, pos, end)
        if tag != 0x30:
            raise DerError("extension is not a SEQUENCE")
        tag, _os, oe = read_tlv(der, es, ee)
        if tag != 0x06:
            raise DerError("extension without OID")
        oid = der[es:oe]
        p = oe
        critical = False
        tag, bs, be = read_tlv(der, p, ee)
        if tag == 0x01:
            if be - bs != 1 or der[bs] not in (0x00, 0xFF):
                raise DerError("bad BOOLEAN")
            critical = der[bs] == 0xFF
            p = be
            tag, bs, be = read_tlv(der, p, ee)
        if tag != 0x04 or be != ee:
            raise DerError("extension value is not a single OCTET STRING")
        if oid == _OID_REASON_CODE:
            tag, vs, ve = read_tlv(der, bs, be)
            if tag != 0x0A or ve != be or ve - vs != 1:
                raise DerError("bad reasonCode")
            reason = der[vs]
        elif oid != _OID_INVALIDITY_DATE and critical:
            # e.g. certificateIssuer of an indirect CRL: we cannot honour it, so refuse the CRL.
            raise DerError("unsupported critical CRL entry extension")
        pos = ee
    return reason


def index_revoked(der: bytes) -> dict[int, int]:
    """Walk the revokedCertificates of a DER CRL once: ``{serial: reason code}``.

    Strict DER; raises DerError on any structural problem. Runs at about a microsecond per
    entry, so a million-entry CRL is indexed in about a second.
    """
    bounds = _tbs_revoked_bounds(der)
    out: dict[int, int] = {}
    if bounds is None:
        return out
    pos, end = bounds
    if pos == end:
        # RFC 5280: an empty list must be omitted, not encoded empty.
        raise DerError("empty revokedCertificates")
    try:
        _walk_entries(der, pos, end, out)
    except IndexError as exc:  # a length pointing past the buffer
        raise DerError("truncated revoked entry") from exc
    return out


# The usual entry extensions: just a reasonCode. Matched as bytes to keep the walk at about a
# microsecond per entry; anything else goes through the general parser.
_REASON_ONLY = bytes.fromhex("300c300a0603551d1504030a01")


def _walk_entries(der: bytes, pos: int, end: int, out: dict[int, int]) -> None:
    from_bytes = int.from_bytes
    reason_only = _REASON_ONLY
    while pos < end:
        if der[pos] != 0x30:
            raise DerError("revoked entry is not a SEQUENCE")
        first = der[pos + 1]
        if first < 0x80:
            start = pos + 2
            entry_end = start + first
            if entry_end > end:
                raise DerError("entry runs past the list")
        else:
            entry_end = _content_end(der, pos, end)
            start = _content_start(der, pos)
        # userCertificate INTEGER
        if start + 2 > entry_end or der[start] != 0x02:
            raise DerError("revoked entry without serial INTEGER")
        slen = der[start + 1]
        p = start + 2 + slen
        if slen == 0 or slen >= 0x80 or p > entry_end:
            raise DerError("bad serial length")
        if slen > 1:
            b0, b1 = der[start + 2], der[start + 3]
            if (b0 == 0x00 and b1 < 0x80) or (b0 == 0xFF and b1 >= 0x80):
                raise DerError("non-minimal INTEGER")
        serial = from_bytes(der[start + 2 : p], "big", signed=True)
        # revocationDate Time
        if p + 2 > entry_end or der[p] not in (0x17, 0x18) or der[p + 1] >= 0x80:
            raise DerError("revoked entry without a valid revocationDate")
        p += 2 + der[p + 1]
        if p == entry_end:
            out[serial] = NO_REASON
        elif entry_end - p == 14 and der.startswith(reason_only, p):
            out[serial] = der[p + 13]
        else:
            if p > entry_end:
                raise DerError("revocationDate runs past the entry")
            tag, xs, xe = read_tlv(der, p, entry_end)
            if tag != 0x30 or xe != entry_end:
                raise DerError("bad crlEntryExtensions")
            out[serial] = _entry_reason(der, xs, xe)
        pos = entry_end


def _content_start(der: bytes, pos: int) -> int:
    first = der[pos + 1]
    return pos + 2 if first < 0x80 else pos + 2 + (first & 0x7F)


def _content_end(der: bytes, pos: int, limit: int) -> int:
    if pos + 2 > limit:
        raise DerError("truncated entry")
    first = der[pos + 1]
    if first < 0x80:
        end = pos + 2 + first
    elif first == 0x81:
        if pos + 3 > limit or der[pos + 2] < 0x80:
            raise DerError("bad entry length")
        end = pos + 3 + der[pos + 2]
    elif first == 0x82:
        if pos + 4 > limit or der[pos + 2] == 0:
            raise DerError("bad entry length")
        end = pos + 4 + (der[pos + 2] << 8 | der[pos + 3])
    else:
        raise DerError("bad entry length")
    if end > limit:
        raise DerError("entry runs past the list")
    return end


def _read_crl_der(path: str) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read()
    if data.startswith(b"-----BEGIN") or b"-----BEGIN X509 CRL-----" in data[:512]:
        blocks = pem_blocks(data, "X509 CRL")
        if len(blocks) != 1:
            raise CrlError("a PEM CRL file must hold exactly one X509 CRL block")
        return blocks[0]
    return data


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def load_crl_file(path: str, trust: TrustStore) -> LoadedCrl:
    """Read, check and index one CRL file (PEM or DER).

    The CRL must be signed by an anchor's key (name and signature; AKI when present), be a
    complete CRL (no delta, no issuing distribution point scope) and carry no unknown critical
    extension. Raises CrlError (or DerError) otherwise.
    """
    der = _read_crl_der(path)
    require_single_object(der)
    try:
        crl = x509.load_der_x509_crl(der)
        extensions = crl.extensions
        issuer = crl.issuer  # parsed lazily: a bad name is an unparsable CRL, not a ValueError
    except ValueError as exc:
        raise CrlError(f"unparsable CRL: {exc}") from exc
    for ext in extensions:
        if isinstance(ext.value, (x509.DeltaCRLIndicator, x509.IssuingDistributionPoint)):
            # A delta or partitioned CRL does not cover every certificate of its issuer;
            # treating it as complete could hide a revocation.
            raise CrlError("delta and partitioned CRLs are not supported")
        if ext.critical and not isinstance(ext.value, _KNOWN_CRL_EXTENSIONS):
            raise CrlError(f"unsupported critical CRL extension {ext.oid.dotted_string}")
    aki: bytes | None = None
    try:
        aki = extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        aki = None
    signer: Anchor | None = None
    for anchor in trust.issuers_of_name(issuer):
        if aki is not None and anchor.key_id != aki:
            continue
        # Checked on the original DER: cryptography's own check re-encodes the whole list,
        # which takes seconds for a million entries.
        if anchor.public_key is not None and signed_by(der, anchor.public_key):
            signer = anchor
            break
    if signer is None:
        raise CrlError("not signed by any configured anchor")
    try:
        number = extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        number = -1
    next_update = crl.next_update_utc
    revoked = index_revoked(der)
    return LoadedCrl(
        source=os.path.basename(path),
        anchor=signer,
        number=number,
        this_update=_utc(crl.last_update_utc),
        next_update=_utc(next_update) if next_update else None,
        revoked=revoked,
    )


class CRLStore:
    """All usable CRLs of a directory, indexed per issuer key, reloaded when files change.

    The directory is re-listed at most every ``check_interval`` seconds; a file is re-read only
    when its name, size, mtime or inode changed, so a huge CRL is not parsed again because a
    small one was replaced.
    """

    def __init__(self, crl_dir: str | None, trust: TrustStore, check_interval: float = 1.0) -> None:
        self.crl_dir = crl_dir
        self.trust = trust
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._signature: tuple[tuple[str, int, int, int], ...] | None = None
        self._files: dict[tuple[str, int, int, int], LoadedCrl | None] = {}
        self._by_key: dict[bytes, list[LoadedCrl]] = {}
        self._checked_at = float("-inf")
        self.refresh(force=True)

    def _listing(self) -> tuple[tuple[str, int, int, int], ...]:
        if not self.crl_dir or not os.path.isdir(self.crl_dir):
            return ()
        entries = []
        with os.scandir(self.crl_dir) as it:
            for entry in it:
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                st = entry.stat()
                entries.append((entry.name, st.st_size, st.st_mtime_ns, st.st_ino))
        return tuple(sorted(entries))

    def refresh(self, force: bool = False) -> None:
        """Reload when the directory's files changed (or always with ``force``)."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.check_interval:
            return
        with self._lock:
            self._checked_at = now
            listing = self._listing()
            if not force and listing == self._signature:
                return
            files: dict[tuple[str, int, int, int], LoadedCrl | None] = {}
            for key in listing:
                if key in self._files and not force:
                    files[key] = self._files[key]
                    continue
                path = os.path.join(self.crl_dir or "", key[0])
                try:
                    files[key] = load_crl_file(path, self.trust)
                except (OSError, ValueError) as exc:
                    log.warning("JPKI CRL %s ignored: %s", key[0], exc)
                    files[key] = None
            by_key: dict[bytes, list[LoadedCrl]] = {}
            for loaded in files.values():
                if loaded is not None:
                    by_key.setdefault(loaded.anchor.key_hash, []).append(loaded)
            for crls in by_key.values():
                crls.sort(key=lambda c: (c.number, c.this_update), reverse=True)
            self._files = files
            self._by_key = by_key
            self._signature = listing

    def crls(self) -> list[LoadedCrl]:
        """Every usable CRL currently loaded."""
        return [c for crls in self._by_key.values() for c in crls]

    def current_crl(self, anchor: Anchor, at: datetime) -> LoadedCrl | None:
        """The current CRL with the highest CRL number for this issuer key at ``at``, or None."""
        self.refresh()
        for crl in self._by_key.get(anchor.key_hash, ()):
            if crl.is_current(at):
                return crl
        return None

    def status(self, anchor: Anchor, serial: int, at: datetime) -> RevocationStatus:
        """Revocation state of ``serial`` issued by ``anchor``'s key at ``at``."""
        crl = self.current_crl(anchor, at)
        if crl is None:
            return RevocationStatus("unknown")
        reason = crl.revoked.get(serial)
        if reason is None:
            return RevocationStatus("good", crl=crl)
        return RevocationStatus("revoked", CRL_REASONS.get(reason, "unspecified"), crl)
