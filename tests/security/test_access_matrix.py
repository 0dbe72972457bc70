"""The access matrix and the sweep (security.md A20, A21, A23, R02, R04, R06).

Generated from `route_policies.py`: every object route (HTML, JSON, feeds, images, survey pages
and receipts) is requested by every viewer of `matrix_world.VIEWERS` for every object of the
owner (`matrix_world.KINDS`, one per visibility level or state). Outside the declared rule the
answer is 404 with the same body as for an id that names nothing.

Requests the rule allows are made only with GET; state-changing routes are requested only where
the rule refuses, and the last test proves the refusals changed nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.permissions import AnonymousViewer, can_edit, can_view
from tests.security.matrix_world import (
    KINDS,
    VIEWERS,
    World,
    build_world,
    module_app,
    normalised,
    snapshot,
)
from tests.security.route_policies import POLICIES, Policy

ALLOW = "allow"
LOGIN = "login"

OBJECT_ENDPOINTS = sorted(name for name, p in POLICIES.items() if p.access == "object")


def _vid(viewer: Any) -> int | None:
    return getattr(viewer, "id", None)


def _friends(viewer: Any, obj: Any, parties: set[int]) -> bool:
    from app.sns.services import are_friends

    return _vid(viewer) is not None and can_view(viewer, obj) and are_friends(viewer, obj)


def _friends_shown(viewer: Any, obj: Any, parties: set[int]) -> bool:
    from app.sns.services import friends_shown

    return can_view(viewer, obj) and friends_shown(obj, viewer)


def _image_visible(viewer: Any, image: Any) -> bool:
    from app.sns.services import image_visible

    return image_visible(viewer, image)


def _community_image_visible(viewer: Any, image: Any) -> bool:
    from app.community.services import image_visible

    return image_visible(viewer, image)


# The oracle of each rule in route_policies.RULES: (viewer, object, its parties) -> allowed.
ORACLES: dict[str, Callable[[Any, Any, set[int]], bool]] = {
    "can_view": lambda v, o, parties: can_view(v, o),
    "guest_view": lambda v, o, parties: can_view(AnonymousViewer(), o),
    "owner": lambda v, o, parties: _vid(v) in parties,
    "party": lambda v, o, parties: _vid(v) in parties,
    "own_relation": lambda v, o, parties: _vid(v) is not None,
    "survey_open": lambda v, o, parties: o.is_locked(),
    "survey_published": lambda v, o, parties: bool(o.results_published),
    "friend": _friends,
    "friends_shown": _friends_shown,
    "other_member": lambda v, o, parties: can_view(v, o) and _vid(v) != o.id,
    "image": lambda v, o, parties: _image_visible(v, o),
    "community_image": lambda v, o, parties: _community_image_visible(v, o),
}


_ANSWERS: dict[tuple[Any, ...], Any] = {}
_ASKED: set[tuple[str, str, str]] = set()  # (viewer, method, path) requested in this module


def expected(world: World, policy: Policy, viewer_name: str, obj: Any) -> Any:
    """ALLOW, LOGIN, 404 or 403 for this viewer on this object, from the declaration.

    The world does not change, so each (rule, viewer, object) is asked of the oracle once.
    """
    if policy.login and world.viewers[viewer_name] is None:
        return LOGIN
    key = (id(world), policy.rule, policy.kind, viewer_name, type(obj), db.inspect(obj).identity)
    if key not in _ANSWERS:
        _ANSWERS[key] = _oracle(world, policy, viewer_name, obj)
    return _ANSWERS[key]


def _oracle(world: World, policy: Policy, viewer_name: str, obj: Any) -> Any:
    viewer = world.user(viewer_name)
    fresh = world.fresh(obj)
    kind = KINDS[policy.kind or ""]
    if policy.rule == "can_edit":
        if not can_view(viewer, fresh):
            return 404
        return ALLOW if can_edit(viewer, fresh) else 403
    oracle = ORACLES[policy.rule or ""]
    return ALLOW if oracle(viewer, fresh, kind.parties(fresh)) else 404


def path_for(app: Flask, endpoint: str, policy: Policy, value: Any) -> tuple[str, str]:
    """The URL of the endpoint for one object value, and the method to request it with."""
    rules = [r for r in app.url_map.iter_rules() if r.endpoint == endpoint]
    rule = min(rules, key=lambda r: len(r.arguments))  # /diary rather than /diary/<y>/<m>
    values: dict[str, Any] = {**policy.fixed, str(policy.arg): value}
    for name in rule.arguments:
        values.setdefault(name, 1)
    path = app.url_map.bind("localhost").build(endpoint, values)
    methods = rule.methods or set()
    return path, ("GET" if "GET" in methods else "POST")


@pytest.fixture(scope="module")
def world(db_template: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with module_app(db_template, tmp_path_factory.mktemp("matrix")) as app:
        built = build_world(app)
        built.before = snapshot()  # type: ignore[attr-defined]
        yield built


class Checker:
    """Requests one route as one viewer and compares with the declared answer."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.missing: dict[tuple[str, str], tuple[int, str, str]] = {}
        self.failures: list[str] = []
        self.requests = 0

    def request(self, viewer: str, method: str, path: str) -> Any:
        self.requests += 1
        return self.world.clients[viewer].open(path, method=method, data={})

    def missing_answer(self, endpoint: str, policy: Policy, viewer: str) -> tuple[int, str, str]:
        key = (endpoint, viewer)
        if key not in self.missing:
            kind = KINDS[policy.kind or ""]
            path, method = path_for(self.world.app, endpoint, policy, kind.missing)
            response = self.request(viewer, method, path)
            self.missing[key] = (response.status_code, response.get_data(as_text=True), path)
        return self.missing[key]

    def check(self, endpoint: str, policy: Policy, viewer: str, label: str, obj: Any) -> None:
        want = expected(self.world, policy, viewer, obj)
        kind = KINDS[policy.kind or ""]
        path, method = path_for(self.world.app, endpoint, policy, kind.url_value(obj))
        where = f"{endpoint} {method} {path} [{policy.kind}:{label}] as {viewer}"
        if want == ALLOW and method != "GET":
            return  # allowed state changes are the feature tests' business
        if (viewer, method, path) in _ASKED:
            return  # the matrix asked this already; the sweep adds the ids it did not
        _ASKED.add((viewer, method, path))
        response = self.request(viewer, method, path)
        status = response.status_code
        if want == LOGIN:
            location = response.headers.get("Location", "")
            if status != 302 or "/auth/login" not in location:
                self.failures.append(f"{where}: want the login page, got {status}")
        elif want == ALLOW:
            if status == 404 or status >= 500:
                self.failures.append(f"{where}: want access, got {status}")
        elif status != want:
            self.failures.append(f"{where}: want {want}, got {status}")
        elif want == 404:
            missing_status, missing_body, missing_path = self.missing_answer(
                endpoint, policy, viewer
            )
            body = normalised(response.get_data(as_text=True), path, missing_path)
            if missing_status != 404 or body != normalised(missing_body):
                self.failures.append(f"{where}: the 404 differs from a missing id's")


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS)
def test_object_route_answers_per_policy(world: World, endpoint: str) -> None:
    """A21: each viewer × each object of the kind, as the declaration says."""
    policy = POLICIES[endpoint]
    checker = Checker(world)
    objects = world.objects[policy.kind or ""]
    for spec in VIEWERS:
        for label, obj in objects.items():
            checker.check(endpoint, policy, spec.name, label, obj)
    assert not checker.failures, "\n".join(checker.failures)
    assert checker.requests > 0


SWEEPERS = ("member", "ex_friend")


def _rows_of(kind_name: str, owner_id: int) -> list[Any]:
    kind = KINDS[kind_name]
    if not kind.model:
        return []
    module, _, name = kind.model.partition(":")
    model = getattr(importlib.import_module(module), name)
    db.session.rollback()
    stmt = select(model).where(getattr(model, kind.owner_column) == owner_id)
    return list(db.session.execute(stmt).scalars())


@pytest.mark.parametrize("sweeper", SWEEPERS)
def test_sweep_every_id_of_the_owner_on_every_route(world: World, sweeper: str) -> None:
    """R04: member B requests every object id of member A on every object route."""
    checker = Checker(world)
    swept = 0
    for endpoint in OBJECT_ENDPOINTS:
        policy = POLICIES[endpoint]
        for row in _rows_of(policy.kind or "", world.owner.id):
            checker.check(endpoint, policy, sweeper, f"row {row!r}", row)
            swept += 1
    assert not checker.failures, "\n".join(checker.failures)
    assert swept > 50


# A23: lists, feeds and search show the owner's entries the viewer may see, and no other.
# (path, complete, audience): complete lists show every visible entry, the rest a visible
# subset; a public feed is the same for everyone, so it is held to what a guest may see.
LISTS = (
    ("/diary", True, "viewer"),
    ("/members/mx_owner/diary", True, "viewer"),
    ("/members/mx_owner", False, "viewer"),
    ("/members/mx_owner/diary.atom", False, "guest"),
    ("/timeline", False, "viewer"),
    ("/search?q=mx-entry", False, "viewer"),
)


@pytest.mark.parametrize("viewer", [spec.name for spec in VIEWERS])
def test_lists_feeds_and_search_apply_the_same_check(world: World, viewer: str) -> None:
    """A23: an entry outside can_view appears in no list; complete lists show all the rest."""
    from app.sns.models import Diary

    db.session.rollback()
    entries = list(
        db.session.execute(select(Diary).where(Diary.author_id == world.owner.id)).scalars()
    )
    audiences = {"viewer": world.user(viewer), "guest": AnonymousViewer()}
    seen = {name: {d.title: can_view(who, d) for d in entries} for name, who in audiences.items()}
    assert any(seen["viewer"].values()) or viewer in ("blocked", "blocker")
    failures = []
    for path, complete, audience in LISTS:
        response = world.clients[viewer].get(path)
        assert response.status_code in (200, 302, 404), (path, response.status_code)
        body = response.get_data(as_text=True)
        for title, visible in seen[audience].items():
            if title in body and not visible:
                failures.append(f"{path} as {viewer}: shows {title}")
            if complete and response.status_code == 200 and visible and title not in body:
                failures.append(f"{path} as {viewer}: leaves out {title}")
    assert not failures, "\n".join(failures)


def test_every_object_kind_is_exercised(world: World) -> None:
    kinds = {str(POLICIES[e].kind) for e in OBJECT_ENDPOINTS}
    missing = sorted(k for k in kinds if k not in KINDS or not world.objects.get(k))
    assert not missing, f"object kinds without objects in matrix_world.KINDS: {missing}"


def test_the_refused_requests_changed_nothing(world: World) -> None:
    assert snapshot() == world.before  # type: ignore[attr-defined]
