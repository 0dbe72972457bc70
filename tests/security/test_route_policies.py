"""Deny by default (security.md A20, A22, R06): every endpoint has a declared policy.

The policies live in `route_policies.py`; these tests hold the app to the declarations that need
no objects (roles, member pages, the CSRF exemption). Object routes: test_access_matrix.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from app import create_app
from app.auth.models import RoleCode
from tests.security.matrix_world import normalised
from tests.security.route_policies import POLICIES, Policy
from tests.security.test_every_route import CSRF_EXEMPT, concrete_path


@pytest.fixture(scope="module")
def bare_app() -> Flask:
    """The URL map of the full app (APP_ROLE=all); no database needed."""
    return create_app("testing", overrides={"DATABASE_URL": "sqlite://"})


def test_every_endpoint_has_a_policy(bare_app):
    endpoints = {rule.endpoint for rule in bare_app.url_map.iter_rules()}
    missing = sorted(endpoints - set(POLICIES))
    assert not missing, f"endpoints without a declared policy in route_policies.py: {missing}"


def test_every_declared_endpoint_exists(bare_app):
    endpoints = {rule.endpoint for rule in bare_app.url_map.iter_rules()}
    gone = sorted(set(POLICIES) - endpoints)
    assert not gone, f"route_policies.py declares endpoints the app no longer has: {gone}"


def test_object_policies_name_a_url_argument(bare_app):
    for rule in bare_app.url_map.iter_rules():
        policy = POLICIES.get(rule.endpoint)
        if policy is None or policy.access != "object":
            continue
        assert policy.arg in rule.arguments, (rule.endpoint, rule.rule, policy.arg)
        for name in policy.fixed:
            assert name in rule.arguments, (rule.endpoint, name)


def test_signature_policies_are_exactly_the_csrf_exemptions():
    signed = {name for name, policy in POLICIES.items() if policy.access == "signature"}
    assert signed == set(CSRF_EXEMPT)


def _rules_with(bare_app: Flask, wanted) -> list[tuple[str, str, Policy]]:
    found = []
    for rule in bare_app.url_map.iter_rules():
        policy = POLICIES.get(rule.endpoint)
        if policy is not None and wanted(policy) and "GET" in (rule.methods or ()):
            found.append((rule.endpoint, concrete_path(bare_app, rule), policy))
    return found


def test_member_pages_send_guests_to_login(app, client):
    checked = 0
    for endpoint, path, _policy in _rules_with(
        app,
        lambda p: p.access in ("member", "role") or (p.access == "object" and p.login),
    ):
        response = client.get(path)
        assert response.status_code == 302, (endpoint, path, response.status_code)
        assert "/auth/login" in response.headers["Location"], (endpoint, path)
        checked += 1
    assert checked > 20


def _role_pages(app: Flask, make: Any) -> list[tuple[str, str, Policy, bool]]:
    """GET role pages with real objects in their URLs where the suite knows how to make one.

    Returns (endpoint, path, policy, real): `real` when every URL argument names an object.
    """
    from tests.survey.surveys_helpers import open_survey

    survey = open_survey(key="rolesurvey")
    monitor = make.monitor()
    known: dict[str, Any] = {
        "key": survey.key,
        "qkey": survey.questions[0].key,
        "fmt": "csv",
        "pseudonym": monitor.pseudonym,
        "code": "default",
    }
    found = []
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        policy = POLICIES.get(rule.endpoint)
        if policy is None or policy.access != "role" or "GET" not in (rule.methods or ()):
            continue
        values = {
            name: known.get(name, 2_000_000 if "Integer" in type(conv).__name__ else "x")
            for name, conv in rule._converters.items()
        }
        real = all(name in known for name in rule.arguments)
        found.append((rule.endpoint, adapter.build(rule.endpoint, values), policy, real))
    return found


@pytest.mark.parametrize("held", [None, RoleCode.MODERATOR, RoleCode.STAFF])
def test_role_pages_are_404_without_the_role(app, client, make, login_as, held):
    """R06: staff, moderator and admin pages do not exist for members lacking the role."""
    viewer = make.user(role=held) if held else make.user()
    pages = _role_pages(app, make)
    login_as(viewer)
    missing = normalised(client.get("/no/such/page").get_data(as_text=True))
    checked = 0
    for endpoint, path, policy, _real in pages:
        if held is not None and viewer.has_role(policy.role):
            continue
        response = client.get(path)
        assert response.status_code == 404, (endpoint, path, response.status_code)
        body = normalised(response.get_data(as_text=True), path, "/no/such/page")
        assert body == missing, (endpoint, path, "the 404 differs from a missing page's")
        checked += 1
    assert checked >= (3 if held else 5)


def test_role_pages_open_to_their_holders(app, client, make, admin, login_as):
    """The other side of R06: the same URLs answer the role's holders (admins hold all)."""
    pages = _role_pages(app, make)
    login_as(admin)
    checked = 0
    for endpoint, path, _policy, real in pages:
        if not real:
            continue
        response = client.get(path)
        assert response.status_code < 400, (endpoint, path, response.status_code)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("role", [RoleCode.ADMIN, RoleCode.MODERATOR, RoleCode.STAFF])
def test_role_pages_wait_for_the_second_factor(app, make, role):
    """A08: every page and action declared for a privileged role, GET or POST, sends its holder
    to the second-factor page until it is passed in this session; the password alone opens
    none of them (nor any object id, since the check comes before the object is looked up)."""
    from urllib.parse import urlsplit

    from tests.factories import Factories

    holder = make.user(role=role)
    client = app.test_client()
    step = client.post("/auth/login", data={"email": holder.email, "password": Factories.PASSWORD})
    assert urlsplit(step.headers["Location"]).path == "/auth/second-factor"
    adapter = app.url_map.bind("localhost")
    checked = 0
    for rule in app.url_map.iter_rules():
        policy = POLICIES.get(rule.endpoint)
        if policy is None or policy.access != "role" or not holder.has_role(policy.role):
            continue
        values = {
            name: 1 if "Integer" in type(conv).__name__ else "x"
            for name, conv in rule._converters.items()
        }
        path = adapter.build(rule.endpoint, values)
        for method in ("GET", "POST"):
            if method not in (rule.methods or ()):
                continue
            response = client.open(path, method=method)
            assert response.status_code == 302, (rule.endpoint, method, response.status_code)
            target = urlsplit(response.headers["Location"]).path
            assert target == "/auth/second-factor", (rule.endpoint, method, target)
            checked += 1
    assert checked >= 5


@pytest.mark.parametrize("as_member", [False, True], ids=["guest", "member"])
def test_monitor_pages_need_the_card(app, client, user, login_as, as_member):
    """MONITOR pages answer only a monitor proven by a card in this session: an SNS login
    is not enough, and the page sends the visitor to the card login, showing no record."""
    if as_member:
        login_as(user)
    checked = 0
    for endpoint, path, _policy in _rules_with(app, lambda p: p.access == "monitor"):
        response = client.get(path)
        assert response.status_code == 302, (endpoint, path, response.status_code)
        assert response.headers["Location"].endswith("/monitors/login"), (endpoint, path)
        checked += 1
    assert checked >= 3


def test_unknown_secrets_open_nothing(app, client):
    """token(...) pages: a secret that names nothing is refused (404, or 410 for mail links)."""
    checked = 0
    for rule in app.url_map.iter_rules():
        policy = POLICIES.get(rule.endpoint)
        if policy is None or policy.access != "token" or "GET" not in (rule.methods or ()):
            continue
        values = dict.fromkeys(rule.arguments, "Q" * 43)
        path = app.url_map.bind("localhost").build(rule.endpoint, values)
        response = client.get(path)
        assert response.status_code in (404, 410), (rule.endpoint, path, response.status_code)
        checked += 1
    assert checked >= 5
