"""Soak: mixed traffic for a long while against 2 gunicorn workers on PostgreSQL (not a test).

    python bench/soak.py [--quick] [--minutes N] [--users 32] [--pg-url URL]

It builds a small town in fresh PostgreSQL databases (members, friendships, diaries, an open
survey and JPKI-verified monitor sessions), serves it with gunicorn (2 workers, 4 threads each,
CSRF on, rate limits off), and runs Locust headless (bench/soak_locustfile.py) at 32 concurrent
users for 10 minutes (--quick: 1 minute): browsing, posting, searching and answering.

It reports the failed requests (must be 0), p50/p95/p99 over all requests and per request kind,
and the workers' memory (RSS) growth from the end of the warm-up (the first fifth of the run) to
the end (must stay under 20 %). Exits 1 when a limit is broken. Loopback only; files go under
bench/out/soak/ (not committed).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "soak"
HOST = "127.0.0.1"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/sankaku_bench_soak"
PASSWORD = "soak-password-2026"  # noqa: S105 - synthetic accounts on loopback
MAX_GROWTH = 0.20
ANSWERS = {"q_q1": "はい", "q_q2": "4", "q_q3": "バスの本数を増やしてほしい"}

sys.path.insert(0, str(ROOT))


def database_urls(pg_url: str) -> tuple[str, str]:
    """Fresh main and vault databases (dropped and created)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    if url.host not in ("127.0.0.1", "localhost", None):
        raise SystemExit("the soak only talks to 127.0.0.1")
    main = url.set(drivername="postgresql+psycopg").update_query_dict({"options": "-c jit=off"})
    pii = main.set(database=f"{url.database}_pii")
    admin = create_engine(main.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in (main.database, pii.database):
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return main.render_as_string(hide_password=False), pii.render_as_string(hide_password=False)


def server_env(main: str, pii: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        APP_CONFIG="development",
        DATABASE_URL=main,
        PII_DATABASE_URL=pii,
        INSTANCE_DIR=str(OUT / "instance"),
        SECRET_KEY="soak-secret-key-that-is-long-enough-0123456789",  # noqa: S106 - bench only
        RATELIMIT_ENABLED="false",
        MAIL_DELIVER_INLINE="false",
        LOG_LEVEL="WARNING",
    )
    return env


def build_town(env: dict[str, str], monitors: int) -> dict[str, Any]:
    """Schema, members, friendships, diaries, an open survey and monitor sessions."""
    os.environ.update(env)
    from flask_migrate import upgrade

    from app import create_app
    from app.auth.services import create_user
    from app.db import utcnow
    from app.extensions import db
    from app.sns.services import _make_friends, create_diary
    from app.survey import authoring, identity
    from app.survey import services as monitor_services
    from app.survey.validation import validate_fields

    app = create_app("development")
    with app.app_context():
        upgrade()
        members = []
        for i in range(60):
            members.append(
                create_user(
                    email=f"soak{i}@bench.example",
                    handle=f"soak{i}",
                    display_name=f"住民 {i}",
                    password=PASSWORD,
                    confirmed=True,
                )
            )
        db.session.commit()
        for i, member in enumerate(members):
            for j in (1, 2, 5):
                _make_friends(member.id, members[(i + j) % len(members)].id)
        db.session.commit()
        diaries = []
        words = ("祭り", "公園", "図書館", "バス", "防災", "雪", "花火", "子育て")
        for n in range(400):
            author = members[n % len(members)]
            word = words[n % len(words)]
            entry = create_diary(
                author,
                title=f"{word}について {n}",
                body=f"{word}の話です。" * 5,
                visibility=("public", "members", "friends")[n % 3],
            )
            diaries.append(entry)
        db.session.commit()
        now = utcnow()
        survey = authoring.create_survey(
            {
                "title": "暮らしアンケート",
                "opens_at": now + dt.timedelta(days=1),
                "closes_at": now + dt.timedelta(days=30),
                "k": 5,
                "anonymity": "anonymous",
                "target": {},
            },
            created_by=None,
        )
        db.session.flush()
        for q in (
            {"key": "q1", "type": "single", "text": "愛着", "required": True,
             "options": {"choices": ["はい", "いいえ"]}},
            {"key": "q2", "type": "scale", "text": "満足度", "options": {"points": 5}},
            {"key": "q3", "type": "text", "text": "ご意見", "options": {"max_length": 200}},
        ):  # fmt: skip
            authoring.add_question(survey, dict(q))
        survey.opens_at = now - dt.timedelta(hours=1)
        db.session.commit()
        cookies = []
        cookie_name = app.config["SESSION_COOKIE_NAME"]
        for n in range(monitors):
            raw = {
                "name": f"監視 {n}",
                "name_kana": "カンシ",
                "postal_code": "940-0062",
                "address": "新潟県長岡市大手通1丁目",
                "sex": ("female", "male")[n % 2],
                "birth_date": "1980-04-01",
                "phone": "0258-00-0000",
                "mobile_email": "",
                "email": f"monitor{n}@bench.example",
            }
            payload = monitor_services.registration_payload(
                validate_fields(raw),
                monitor_services.expand_consents("all"),
                project="default",
                certificate=None,
                member_id=None,
            )
            monitor = monitor_services.file_registration(payload, actor="soak")
            db.session.commit()
            client = app.test_client()
            with client.session_transaction() as sess:
                sess[identity.SESSION_MONITOR] = monitor.pseudonym
                sess[identity.SESSION_AT] = utcnow().isoformat()
            db.session.commit()
            cookie = client.get_cookie(cookie_name)
            if cookie is None:
                raise SystemExit("the monitor session was not stored")
            cookies.append([cookie_name, cookie.value])
        plan = {
            "password": PASSWORD,
            "members": [m.email for m in members],
            "handles": [m.handle for m in members],
            # what any member may open (friends-only diaries of strangers answer 404)
            "diaries": [d.id for d in diaries if d.visibility in ("public", "members")],
            "survey": survey.key,
            "answers": ANSWERS,
            "monitors": cookies,
        }
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    return plan


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """gunicorn, 2 workers × 4 threads, in its own process group."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.proc = subprocess.Popen(
            [gunicorn, "--workers", "2", "--threads", "4", "--bind", f"{HOST}:{self.port}",
             "--chdir", str(ROOT), "--no-control-socket", "--log-level", "warning",
             # Behind a proxy that keeps connections open: with gthread's 2-s default an idle
             # keep-alive connection can be closed just as the client sends on it.
             "--keep-alive", "30",
             "app:create_app()"],
            env=env,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2):  # noqa: S310
                    if len(self.workers()) == 2:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise SystemExit("gunicorn did not start")

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def rss_kib(self) -> int:
        total = 0
        for pid in self.workers():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def sample_memory(server: Server, stop: threading.Event, samples: list[tuple[float, int]]) -> None:
    start = time.monotonic()
    while not stop.wait(5.0):
        try:
            samples.append((time.monotonic() - start, server.rss_kib()))
        except OSError:  # a worker was replaced: a finding in itself, shown by the samples
            samples.append((time.monotonic() - start, -1))


def read_stats(prefix: Path) -> list[dict[str, str]]:
    with (prefix.parent / f"{prefix.name}_stats.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one minute instead of ten")
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--pg-url", default=os.environ.get("SOAK_DATABASE_URL", DEFAULT_PG))
    args = parser.parse_args()
    minutes = args.minutes or (1.0 if args.quick else 10.0)
    seconds = int(minutes * 60)
    warmup = max(10, seconds // 5)

    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    main_url, pii_url = database_urls(args.pg_url)
    env = server_env(main_url, pii_url)
    started = time.monotonic()
    # Monitors answer about once every 3 s each; keep enough sessions for the whole run.
    plan = build_town(env, monitors=max(60, seconds // 2))
    plan_path = OUT / "plan.json"
    plan_path.write_text(json.dumps(plan, ensure_ascii=False))
    print(f"town built in {time.monotonic() - started:.0f} s", flush=True)

    server = Server(env)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_memory, args=(server, stop, samples))
    sampler.start()
    prefix = OUT / "locust"
    try:
        locust = str(Path(sys.executable).parent / "locust")
        done = subprocess.run(
            [locust, "-f", str(ROOT / "bench" / "soak_locustfile.py"), "--headless",
             "--users", str(args.users), "--spawn-rate", "8", "--run-time", f"{seconds}s",
             "--host", server.url, "--csv", str(prefix), "--only-summary",
             "--loglevel", "WARNING", "--stop-timeout", "10"],
            env={**os.environ, "SOAK_PLAN": str(plan_path)},
            check=False,
        )  # fmt: skip
    finally:
        stop.set()
        sampler.join()
        server.stop()

    rows = read_stats(prefix)
    total = next(r for r in rows if r["Name"] == "Aggregated")
    failures = int(total["Failure Count"])
    after = [kib for t, kib in samples if t >= warmup and kib > 0]
    baseline = statistics.median(after[:3]) if after else 0
    final = statistics.median(after[-3:]) if after else 0
    growth = (final - baseline) / baseline if baseline else float("nan")
    replaced = any(kib < 0 for _, kib in samples)
    report = {
        "minutes": minutes,
        "users": args.users,
        "requests": int(total["Request Count"]),
        "failed": failures,
        "requests_per_s": round(float(total["Requests/s"]), 1),
        "p50_ms": float(total["50%"]),
        "p95_ms": float(total["95%"]),
        "p99_ms": float(total["99%"]),
        "rss_after_warmup_mib": round(baseline / 1024, 1),
        "rss_at_end_mib": round(final / 1024, 1),
        "rss_growth_percent": round(growth * 100, 1),
        "workers_replaced": replaced,
        "by_request": {
            r["Name"]: {
                "requests": int(r["Request Count"]),
                "failed": int(r["Failure Count"]),
                "p50_ms": float(r["50%"]),
                "p99_ms": float(r["99%"]),
            }
            for r in rows
            if r["Name"] != "Aggregated"
        },
    }
    (OUT / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps(report, indent=2, ensure_ascii=False))
    broken = []
    if failures:
        broken.append(f"{failures} failed requests (must be 0)")
    if not growth < MAX_GROWTH:
        broken.append(f"worker memory grew {growth:.1%} after warm-up (limit {MAX_GROWTH:.0%})")
    if replaced:
        broken.append("a worker was replaced during the run")
    if done.returncode not in (0, 1):
        broken.append(f"locust exited with {done.returncode}")
    for line in broken:
        print(f"FAIL: {line}")
    if broken:
        sys.exit(1)
    print("soak: ok")


if __name__ == "__main__":
    main()
