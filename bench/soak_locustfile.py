"""Locust users for bench/soak.py (run headless by it; not a test).

Members log in through the login form and then browse (timeline, diaries, profiles), post
diaries and search. Monitors take one JPKI-verified session each from the prepared list and
answer the survey once (consent, the page, confirm, submit). Every form carries its CSRF token,
as in a browser. A status other than the expected one counts as a failed request.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
from typing import Any

from locust import HttpUser, between, task

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
DRAFT = re.compile(r'name="draft" value="([^"]+)"')
WORDS = ("祭り", "公園", "図書館", "バス", "防災", "雪", "花火", "子育て")

with open(os.environ["SOAK_PLAN"], encoding="utf-8") as fh:
    PLAN: dict[str, Any] = json.load(fh)
_monitors: list[list[str]] = list(PLAN["monitors"])
_lock = threading.Lock()


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    return found.group(1) if found else ""


class Member(HttpUser):
    weight = 7
    wait_time = between(0.3, 1.5)

    def on_start(self) -> None:
        account = random.choice(PLAN["members"])
        page = self.client.get("/auth/login", name="/auth/login")
        with self.client.post(
            "/auth/login",
            data={"email": account, "password": PLAN["password"], "csrf_token": _csrf(page.text)},
            allow_redirects=False,
            name="/auth/login [POST]",
            catch_response=True,
        ) as r:
            if r.status_code != 302:
                r.failure(f"login answered {r.status_code}")

    @task(6)
    def browse(self) -> None:
        self.client.get("/timeline", name="/timeline")
        diary = random.choice(PLAN["diaries"])
        self.client.get(f"/diary/{diary}", name="/diary/[id]")
        handle = random.choice(PLAN["handles"])
        self.client.get(f"/members/{handle}", name="/members/[handle]")

    @task(2)
    def search(self) -> None:
        q = random.choice(WORDS)
        self.client.get("/search", params={"q": q}, name="/search?q=[word]")

    @task(1)
    def post(self) -> None:
        form = self.client.get("/diary/new", name="/diary/new")
        data = {
            "title": f"{random.choice(WORDS)}の話",
            "body": "今日は地域の集まりがありました。",
            "visibility": random.choice(["public", "members", "friends"]),
            "body_format": "plain",
            "allow_comments": "y",
            "csrf_token": _csrf(form.text),
        }
        with self.client.post(
            "/diary/new",
            data=data,
            allow_redirects=False,
            name="/diary/new [POST]",
            catch_response=True,
        ) as r:
            if r.status_code != 302:
                r.failure(f"posting answered {r.status_code}")


class Monitor(HttpUser):
    weight = 1
    wait_time = between(1.0, 3.0)

    @task
    def answer(self) -> None:
        with _lock:
            cookie = _monitors.pop() if _monitors else None
        base = f"/monitors/surveys/{PLAN['survey']}"
        if cookie is None:  # every prepared monitor has answered: read the survey page
            self.client.get(base, name="/monitors/surveys/[key]")
            return
        self.client.cookies.clear()
        self.client.cookies.set(cookie[0], cookie[1])
        intro = self.client.get(base, name="/monitors/surveys/[key]")
        page = self.client.post(
            f"{base}/start",
            data={"consent": "yes", "csrf_token": _csrf(intro.text)},
            name="/monitors/surveys/[key]/start",
        )
        draft = DRAFT.search(page.text)
        if draft is None:
            return  # the failed request above is already counted
        confirm = self.client.post(
            f"{base}/page/1",
            data={**PLAN["answers"], "draft": draft.group(1), "csrf_token": _csrf(page.text)},
            name="/monitors/surveys/[key]/page/1",
        )
        with self.client.post(
            f"{base}/submit",
            data={"draft": draft.group(1), "csrf_token": _csrf(confirm.text)},
            name="/monitors/surveys/[key]/submit",
            catch_response=True,
        ) as r:
            if r.status_code != 200 or '<strong lang="en">' not in r.text:
                r.failure(f"submit answered {r.status_code}")
