"""SNS benchmark: a realistic town, served by gunicorn, driven by wrk over loopback.

    python bench/sns_bench.py [--db sqlite|postgresql] [--quick] [--duration SECONDS] [--reuse]

It generates 10,000 members (≈50 friends each), 200,000 diaries and some comments (--quick:
1,000 members and 20,000 diaries), serves the app with gunicorn (2 sync workers), and drives it
with wrk (16 connections, bounded time) on 127.0.0.1 only. It measures, in the same run:

- the ceiling: a minimal Flask app returning a short text under the same gunicorn settings;
- the home timeline of a logged-in member, another member's profile, and a diary page.

For each it prints requests/s, the ratio to the ceiling, p50/p99 latency and the server CPU
time per request (user+system time of the gunicorn workers from /proc, divided by requests).
Targets (2 cores): timeline >= 12 % of the ceiling, profile and diary >= 15 %, p99 <= 150 ms,
<= 2 ms CPU per request. Output files go under bench/out/ (not committed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.cookiejar
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
HOST = "127.0.0.1"  # loopback only
PASSWORD = "bench-password-2026"  # noqa: S105 - synthetic accounts on loopback
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/sankaku_bench_sns"
TARGETS = {"timeline": 0.12, "profile": 0.15, "diary": 0.15}
P99_MS = 150.0
CPU_MS = 2.0

sys.path.insert(0, str(ROOT))


@dataclass
class Sizes:
    members: int
    diaries: int
    friends_each: int
    comments: int


FULL = Sizes(members=10_000, diaries=200_000, friends_each=50, comments=40_000)
QUICK = Sizes(members=1_000, diaries=20_000, friends_each=50, comments=4_000)


# --- databases ------------------------------------------------------------------------------


def database_urls(kind: str, pg_url: str, reuse: bool = False) -> tuple[str, str]:
    if kind == "sqlite":
        base = OUT / "sqlite"
        if base.exists() and not reuse:
            shutil.rmtree(base)
        base.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{base / 'sankaku.db'}", f"sqlite:///{base / 'pii.db'}"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    if url.host not in ("127.0.0.1", "localhost", None):
        raise SystemExit("the benchmark only talks to 127.0.0.1")
    # JIT compilation costs more than these short OLTP queries take (it added ~90 ms to the
    # timeline query); production should set jit = off as well (see the README).
    main = url.set(drivername="postgresql+psycopg").update_query_dict({"options": "-c jit=off"})
    pii = main.set(database=f"{url.database}_pii")
    if not reuse:
        admin = create_engine(main.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in (main.database, pii.database):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    return (
        main.render_as_string(hide_password=False),
        pii.render_as_string(hide_password=False),
    )


def server_env(main: str, pii: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        APP_CONFIG="development",
        DATABASE_URL=main,
        PII_DATABASE_URL=pii,
        INSTANCE_DIR=str(OUT / "instance"),
        SECRET_KEY="bench-secret-key-that-is-long-enough-0123456789",  # noqa: S106 - bench only
        RATELIMIT_ENABLED="false",
        MAIL_DELIVER_INLINE="false",
        LOG_LEVEL="WARNING",
    )
    return env


def generate(main: str, pii: str, sizes: Sizes, seed: int = 2026) -> dict[str, Any]:
    """Create the schema and bulk-insert the town. Returns the URLs to measure."""
    os.environ.update(server_env(main, pii))
    from flask_migrate import upgrade
    from sqlalchemy import insert, select, text

    from app import create_app
    from app.auth.models import Role, User, user_roles
    from app.auth.passwords import hash_password
    from app.extensions import db
    from app.sns.models import Comment, Diary, Friendship, ProfileValue

    rng = random.Random(seed)
    app = create_app("development")
    started = time.monotonic()
    with app.app_context():
        upgrade()
        now = dt.datetime.now(dt.UTC)
        password_hash = hash_password(PASSWORD)
        districts = list(app.config["DISTRICTS"])
        users = [
            {
                "id": i,
                "email": f"u{i}@bench.example",
                "email_key": f"u{i}@bench.example",
                "handle": f"u{i}",
                "handle_key": f"u{i}",
                "display_name": f"住民 {i}",
                "password_hash": password_hash,
                "locale": "ja",
                "status": "active",
                "invite_quota": 5,
                "email_confirmed_at": now,
                "created_at": now - dt.timedelta(days=rng.randrange(700)),
                "password_changed_at": now,
            }
            for i in range(1, sizes.members + 1)
        ]
        _bulk(db, insert(User.__table__), users)
        member_role = db.session.execute(select(Role.id).where(Role.code == "member")).scalar_one()
        _bulk(
            db,
            insert(user_roles),
            [{"user_id": i, "role_id": member_role} for i in range(1, sizes.members + 1)],
        )
        values = []
        for i in range(1, sizes.members + 1):
            values.append(
                {
                    "user_id": i,
                    "field_key": "district",
                    "value": districts[i % len(districts)],
                    "visibility": "members",
                }
            )
            values.append(
                {
                    "user_id": i,
                    "field_key": "self_intro",
                    "value": f"{districts[i % len(districts)]}に住んでいます。よろしく。",
                    "visibility": rng.choice(["public", "members", "friends"]),
                }
            )
        _bulk(db, insert(ProfileValue.__table__), values)
        # Friendships: mostly within the district, some across; about friends_each per member.
        pairs: set[tuple[int, int]] = set()
        target = sizes.members * sizes.friends_each // 2
        by_district: dict[int, list[int]] = {}
        for i in range(1, sizes.members + 1):
            by_district.setdefault(i % len(districts), []).append(i)
        while len(pairs) < target:
            a = rng.randrange(1, sizes.members + 1)
            if rng.random() < 0.7:
                b = rng.choice(by_district[a % len(districts)])
            else:
                b = rng.randrange(1, sizes.members + 1)
            if a != b:
                pairs.add((min(a, b), max(a, b)))
        friend_rows = []
        friends_of: dict[int, list[int]] = {}
        for a, b in pairs:
            friend_rows.append({"user_id": a, "friend_id": b, "created_at": now})
            friend_rows.append({"user_id": b, "friend_id": a, "created_at": now})
            friends_of.setdefault(a, []).append(b)
            friends_of.setdefault(b, []).append(a)
        _bulk(db, insert(Friendship.__table__), friend_rows)
        levels = (
            ["public"] * 20
            + ["members"] * 30
            + ["friends_of_friends"] * 15
            + ["friends"] * 30
            + ["private"] * 5
        )
        body = "今日は地域の清掃活動に参加しました。川沿いを皆さんと歩き、ごみを拾いました。" * 3
        diaries = [
            {
                "id": n,
                "author_id": rng.randrange(1, sizes.members + 1),
                "title": f"日記 {n}",
                "body": body,
                "body_format": "plain",
                "visibility": rng.choice(levels),
                "allow_comments": True,
                "created_at": now - dt.timedelta(minutes=n * 5 + rng.randrange(5)),
                "hidden_reason": "",
            }
            for n in range(1, sizes.diaries + 1)
        ]
        _bulk(db, insert(Diary.__table__), diaries)
        comments = []
        for n in range(sizes.comments):
            diary = diaries[rng.randrange(min(len(diaries), sizes.comments))]
            pool = friends_of.get(diary["author_id"]) or [diary["author_id"]]
            comments.append(
                {
                    "diary_id": diary["id"],
                    "author_id": rng.choice(pool),
                    "body": f"いいですね！ {n}",
                    "created_at": diary["created_at"] + dt.timedelta(hours=1),
                    "hidden_reason": "",
                }
            )
        _bulk(db, insert(Comment.__table__), comments)
        if db.engine.dialect.name == "postgresql":
            for table in ("users", "sns_friendships", "sns_diaries", "sns_comments"):
                db.session.execute(text(f"ANALYZE {table}"))  # fixed names, no input
            for table in ("users", "sns_diaries"):  # rows inserted with explicit ids
                sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"  # noqa: S608, E501 - fixed table names
                db.session.execute(text(sql))
        else:
            db.session.execute(text("ANALYZE"))
        db.session.commit()
        viewer = 1
        friends = friends_of.get(viewer, [])
        friend_set = set(friends)
        fof = sorted({x for f in friends for x in friends_of.get(f, [])} - friend_set - {viewer})
        other = fof[0] if fof else (viewer % sizes.members) + 1
        visible = next(
            d for d in diaries if d["author_id"] in friend_set and d["visibility"] != "private"
        )
        for engine in db.engines.values():
            engine.dispose()
    print(
        f"generated {sizes.members} members, {len(friend_rows)} friendship rows, "
        f"{sizes.diaries} diaries, {sizes.comments} comments in "
        f"{time.monotonic() - started:.0f} s; member 1 has {len(friends)} friends",
        flush=True,
    )
    return {
        "viewer_email": "u1@bench.example",
        "timeline": "/",
        "profile": f"/members/u{other}",
        "diary": f"/diary/{visible['id']}",
    }


def _bulk(db: Any, stmt: Any, rows: list[dict[str, Any]], chunk: int = 5000) -> None:
    for start in range(0, len(rows), chunk):
        db.session.execute(stmt, rows[start : start + chunk])
    db.session.commit()


# --- serving and measuring ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    def __init__(self, target: str, env: dict[str, str], chdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
        self.proc = subprocess.Popen(
            [
                gunicorn,
                "-w",
                "2",
                "-k",
                "sync",
                "-b",
                f"{HOST}:{self.port}",
                "--chdir",
                str(chdir),
                "--log-level",
                "warning",
                target,
            ],
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                probe = self.url + "/healthz" if "create_app" in target else self.url
                with urllib.request.urlopen(probe, timeout=2):  # noqa: S310 - loopback
                    break
            except OSError:
                time.sleep(0.3)
        else:
            self.stop()
            raise SystemExit(f"gunicorn {target} did not start")

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def cpu_seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.workers():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    requests: int
    errors: int


def _ms(value: str) -> float:
    number = float(re.match(r"[\d.]+", value).group(0))  # type: ignore[union-attr]
    if value.endswith("us"):
        return number / 1000
    if value.endswith("ms"):
        return number
    if value.endswith("s"):
        return number * 1000
    return number


def run_wrk(name: str, server: Gunicorn, path: str, cookie: str | None, duration: int) -> Result:
    cmd = ["wrk", "-t2", "-c16", f"-d{duration}s", "--latency", "--timeout", "5s"]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    cmd.append(server.url + path)
    cpu_before = server.cpu_seconds()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu_after = server.cpu_seconds()
    (OUT / f"wrk-{name}.txt").write_text(out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(errors_match.group(1)) if errors_match else 0
    cpu_ms = (cpu_after - cpu_before) * 1000 / max(requests, 1)
    return Result(name, rps, p50, p99, cpu_ms, requests, errors)


def log_in(base: str, email: str) -> str:
    """Log in through the real form (with its CSRF token); return the session cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(base + "/auth/login", timeout=10) as resp:
        page = resp.read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    data = {"email": email, "password": PASSWORD}
    if token:
        data["csrf_token"] = token.group(1)
    body = urllib.parse.urlencode(data).encode()
    with opener.open(base + "/auth/login", data=body, timeout=10) as resp:
        resp.read()
    cookies = "; ".join(f"{c.name}={c.value}" for c in jar)
    if "sankaku_session" not in cookies:
        raise SystemExit("could not log in to the benchmark site")
    return cookies


def check_page(base: str, path: str, cookie: str | None) -> None:
    req = urllib.request.Request(base + path, headers={"Cookie": cookie} if cookie else {})  # noqa: S310
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
        if resp.status != 200:
            raise SystemExit(f"{path} answered {resp.status}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="a small town and 5-second runs")
    parser.add_argument("--duration", type=int, default=None, help="seconds per measurement")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the town generated by an earlier run"
    )
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    sizes = QUICK if args.quick else FULL
    duration = args.duration or (5 if args.quick else 15)
    OUT.mkdir(parents=True, exist_ok=True)
    saved = OUT / f"targets-{args.db}-{sizes.members}.json"
    reuse = args.reuse and saved.exists()
    main_url, pii_url = database_urls(args.db, args.pg_url, reuse)
    if reuse:
        targets = json.loads(saved.read_text())
        print(f"reusing the town generated earlier ({saved.name})", flush=True)
    else:
        targets = generate(main_url, pii_url, sizes)
        saved.write_text(json.dumps(targets))
    env = server_env(main_url, pii_url)

    results: list[Result] = []
    ceiling = Gunicorn("sns_ceiling:app", env, ROOT / "bench")
    try:
        run_wrk("warmup", ceiling, "/", None, 2)
        results.append(run_wrk("ceiling", ceiling, "/", None, duration))
    finally:
        ceiling.stop()
    server = Gunicorn("app:create_app()", env, ROOT)
    try:
        cookie = log_in(server.url, targets["viewer_email"])
        for name in ("timeline", "profile", "diary"):
            check_page(server.url, targets[name], cookie)
            run_wrk(f"warmup-{name}", server, targets[name], cookie, 2)
            results.append(run_wrk(name, server, targets[name], cookie, duration))
    finally:
        server.stop()

    base = results[0].rps
    print()
    print(
        f"database: {args.db}  members: {sizes.members}  diaries: {sizes.diaries}  "
        f"gunicorn: 2 sync workers  wrk: 16 connections, {duration} s  cores: {os.cpu_count()}"
    )
    header = (
        f"{'page':10} {'req/s':>9} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU ms/req':>11} {'non-2xx':>8}  target"
    )
    print(header)
    print("-" * len(header))
    summary = []
    for r in results:
        ratio = r.rps / base if base else 0.0
        if r.name == "ceiling":
            verdict = ""
        else:
            ok = ratio >= TARGETS[r.name] and r.p99_ms <= P99_MS and r.cpu_ms <= CPU_MS
            verdict = (
                "met" if ok else "MISSED"
            ) + f" (≥{TARGETS[r.name]:.0%}, p99≤{P99_MS:.0f}, CPU≤{CPU_MS:.0f})"
        print(
            f"{r.name:10} {r.rps:9.1f} {ratio:7.1%} {r.p50_ms:8.1f} {r.p99_ms:8.1f} "
            f"{r.cpu_ms:11.2f} {r.errors:8d}  {verdict}"
        )
        summary.append({**r.__dict__, "ratio": ratio})
    (OUT / f"result-{args.db}.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
