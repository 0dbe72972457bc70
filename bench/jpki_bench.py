"""JPKI verifier benchmark (run on demand: ``make bench`` or ``python bench/jpki_bench.py``).

Measures, on one CPU core:

* loading a CRL with 1,000,000 entries (signature check + index), target < 5 s;
* a revoked-serial lookup in that index, target < 5 µs;
* full login verifications per second — certificate parse, chain to the anchor by key,
  validity, key usage, purpose, policy, revocation against the loaded 1M-entry CRL, and the
  RSASSA-PKCS1-v1_5 signature over the challenge — target ≥ 5,000/s.

The test PKI and the large CRL are cached under bench/out/ (git-ignored): building a million
CRL entries takes a few seconds, generating the PKI a few more.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
import timeit
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from app.auth.jpki.crl import CRLStore, load_crl_file  # noqa: E402
from app.auth.jpki.login import new_challenge, verify_login_response  # noqa: E402
from app.auth.jpki.settings import JpkiSettings  # noqa: E402
from app.auth.jpki.signature import (  # noqa: E402
    digest_info_sha256,
    login_message,
    sign_digest_info,
)
from app.auth.jpki.testpki import TestPki, build_large_crl_der, make_test_pki  # noqa: E402
from app.auth.jpki.trust import TrustStore  # noqa: E402
from app.auth.jpki.verify import Stores, verify_certificate  # noqa: E402

OUT = ROOT / "bench" / "out"


def _pki() -> TestPki:
    """The cached test PKI, regenerated when older than 12 hours (its CRLs last one day)."""
    root = OUT / "pki"
    manifest = root / "manifest.json"
    if manifest.exists() and time.time() - manifest.stat().st_mtime < 12 * 3600:
        return TestPki(str(root), json.loads(manifest.read_text(encoding="utf-8")))
    shutil.rmtree(root, ignore_errors=True)
    print("generating the test PKI …", flush=True)
    return make_test_pki(str(root))


def _key(path: str) -> rsa.RSAPrivateKey:
    with open(path, "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)  # noqa: S101 - bench sanity check
    return key


def _large_crl(pki: TestPki, entries: int) -> Path:
    """A CRL of the auth G2 CA with ``entries`` random serials, cached with a 7-day validity."""
    path = OUT / f"crl-{entries}" / "auth_g2_large.crl"
    anchor_fp = pki.manifest["anchors"]["auth_g2"]["fingerprint"]
    # Outside the CRL folder: the verifier would try to read it as a CRL.
    stamp = OUT / f"crl-{entries}.anchor"
    fresh = (
        path.exists()
        and stamp.exists()
        and stamp.read_text() == anchor_fp
        and time.time() - path.stat().st_mtime < 6 * 86400
    )
    if fresh:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    ca = x509.load_der_x509_certificate(pki.read("trust/auth_g2.der"))
    key = _key(pki.path("ca/auth_g2.key.pem"))
    rng = random.Random(20240601)  # deterministic, so runs are comparable
    serials = rng.sample(range(1 << 40, 1 << 56), entries)
    now = datetime.now(UTC).replace(microsecond=0)
    print(f"building a {entries:,}-entry CRL …", flush=True)
    started = time.perf_counter()
    der = build_large_crl_der(
        ca,
        key,
        serials,
        number=1000,
        this_update=now - timedelta(hours=1),
        next_update=now + timedelta(days=7),
    )
    path.write_bytes(der)
    stamp.write_text(anchor_fp)
    print(f"  built in {time.perf_counter() - started:.1f} s ({len(der) / 1e6:.1f} MB)")
    return path


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the login loop")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    pki = _pki()
    crl_path = _large_crl(pki, args.entries)
    trust = TrustStore.load(pki.trust_dir)

    loads = []
    for _ in range(3):
        started = time.perf_counter()
        loaded = load_crl_file(str(crl_path), trust)
        loads.append(time.perf_counter() - started)
    assert len(loaded.revoked) == args.entries  # noqa: S101
    print(
        f"CRL load ({args.entries:,} entries, signature + index): best {min(loads):.2f} s, "
        f"median {statistics.median(loads):.2f} s   (target < 5 s)"
    )

    revoked_serial = next(iter(loaded.revoked))
    index = loaded.revoked
    n = 1_000_000
    hit = timeit.timeit(lambda: index.get(revoked_serial), number=n) / n
    miss = timeit.timeit(lambda: index.get(12345), number=n) / n
    store = CRLStore(str(crl_path.parent), trust)
    anchor = next(a for a in trust.anchors if a.source == "auth_g2.der")
    now = datetime.now(UTC)
    rounds = 200_000
    full = timeit.timeit(lambda: store.status(anchor, revoked_serial, now), number=rounds) / rounds
    print(
        f"lookup: dict {hit * 1e6:.2f} µs (hit) / {miss * 1e6:.2f} µs (miss); "
        f"CRLStore.status incl. currency and reload check {full * 1e6:.2f} µs   (target < 5 µs)"
    )

    settings = JpkiSettings(trust_dir=pki.trust_dir, crl_dir=str(crl_path.parent))
    stores = Stores(trust, store)
    cert_der = pki.read("cards/taro/auth.der")
    auth_key = _key(pki.path("cards/taro/auth.key.pem"))
    challenge = new_challenge("https://sankaku.example.jp")
    message = login_message(challenge.origin, challenge.challenge_id, challenge.nonce)
    signature = sign_digest_info(auth_key, digest_info_sha256(message))
    check = verify_login_response(challenge, cert_der, signature, settings, stores=stores)
    assert check.ok, check.reason  # noqa: S101

    def rate(func: object, seconds: float) -> tuple[float, float]:
        """Calls per wall-clock second and per CPU second of this (single-core) process; the
        second figure stays meaningful when other work shares the machine."""
        count = 0
        deadline = time.perf_counter() + seconds
        started, cpu_started = time.perf_counter(), time.process_time()
        while time.perf_counter() < deadline:
            for _ in range(100):
                func()  # type: ignore[operator]
            count += 100
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        return count / wall, count / cpu

    logins = rate(
        lambda: verify_login_response(challenge, cert_der, signature, settings, stores=stores),
        args.seconds,
    )
    chain_only = rate(
        lambda: verify_certificate(cert_der, "auth", None, settings, stores=stores),
        args.seconds / 2,
    )
    print(
        f"full login verifications: {logins[0]:,.0f}/s wall, {logins[1]:,.0f} per CPU-second "
        "on one core   (target ≥ 5,000/s)"
    )
    print(
        f"certificate checks without the login signature: {chain_only[0]:,.0f}/s wall, "
        f"{chain_only[1]:,.0f} per CPU-second"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"python {sys.version.split()[0]}, cryptography {__import__('cryptography').__version__}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
