"""Site pages: versioned editing by admins, public current versions, accepting new terms."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.notices import services
from app.notices.models import PageKind, SitePageVersion, TermsAcceptance


def _acceptances(user) -> list[int]:
    db.session.rollback()
    return [a.version.version for a in services.acceptances(user)]


def test_every_save_is_a_new_version_and_history_keeps_all(client, login_as, admin):
    login_as(admin)
    assert client.get("/admin/pages").status_code == 200
    for body in ("第1条 最初の文。\n第2条 二つ目。", "第1条 最初の文。\n第2条 書き直した。"):
        response = client.post(
            "/admin/pages/privacy/edit", data={"title": "個人情報", "body": body, "note": "改定"}
        )
        assert response.status_code == 302
    versions = services.page_versions(PageKind.PRIVACY)
    assert [v.version for v in versions] == [2, 1]
    html = client.get("/admin/pages/privacy/history").get_data(as_text=True)
    assert "<del>- 第2条 二つ目。</del>" in html
    assert "<ins>+ 第2条 書き直した。</ins>" in html
    public = client.get("/pages/privacy").get_data(as_text=True)
    assert "書き直した" in public and "二つ目" not in public


def test_saving_unchanged_text_makes_no_version(client, login_as, admin):
    login_as(admin)
    data = {"title": "約束", "body": "仲良く。", "note": ""}
    client.post("/admin/pages/guidelines/edit", data=data)
    response = client.post("/admin/pages/guidelines/edit", data=data)
    assert "変更がないため" in response.get_data(as_text=True)
    assert len(services.page_versions(PageKind.GUIDELINES)) == 1


def test_history_escapes_page_text(client, login_as, admin):
    login_as(admin)
    client.post("/admin/pages/terms/edit", data={"title": "t", "body": "<b>x</b>"})
    client.post("/admin/pages/terms/edit", data={"title": "t", "body": "<i>y</i>"})
    html = client.get("/admin/pages/terms/history").get_data(as_text=True)
    assert "<i>y</i>" not in html and "&lt;i&gt;y&lt;/i&gt;" in html


@pytest.mark.parametrize(
    "path", ["/admin/pages", "/admin/pages/terms/edit", "/admin/pages/terms/history"]
)
def test_admin_pages_are_404_for_staff_and_moderators(client, login_as, make, path):
    from app.auth.models import RoleCode

    login_as(make.user(role=RoleCode.STAFF))
    assert client.get(path).status_code == 404
    assert client.post(path, data={"title": "x", "body": "y"}).status_code in (404, 405)
    assert db.session.execute(select(SitePageVersion)).first() is None


def test_unknown_page_kind_and_missing_page_are_404(client, login_as, admin):
    assert client.get("/pages/terms").status_code == 404
    assert client.get("/pages/nonsense").status_code == 404
    login_as(admin)
    assert client.get("/admin/pages/nonsense/edit").status_code == 404


def test_footer_links_current_pages(client, terms):
    assert "/pages/terms" not in client.get("/").get_data(as_text=True)
    terms()
    html = client.get("/").get_data(as_text=True)
    assert 'href="/pages/terms"' in html
    assert client.get("/pages/terms").status_code == 200


def test_member_must_accept_new_terms_at_next_login(client, login_as, user, terms):
    first = terms()
    response = client.post(
        "/auth/login", data={"email": user.email, "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 303
    assert home.headers["Location"].startswith("/terms/accept")
    # Any member page sends them there; the terms themselves stay readable.
    assert client.get("/notices").status_code == 303
    assert client.get("/pages/terms").status_code == 200
    page = client.get("/terms/accept?next=/notices")
    assert "第1条 仲良く使いましょう。" in page.get_data(as_text=True)
    response = client.post("/terms/accept", data={"version": "1", "next": "/notices"})
    assert response.status_code == 302 and response.headers["Location"] == "/notices"
    assert client.get("/").status_code == 200
    row = db.session.execute(select(TermsAcceptance)).scalar_one()
    assert (row.user_id, row.version_id) == (user.id, first.id)
    assert row.accepted_at is not None
    # A new version: asked again on the next request.
    terms(body="第1条 改定しました。")
    assert client.get("/").status_code == 303
    client.post("/terms/accept", data={"version": "2"})
    assert _acceptances(user) == [2, 1]


def test_accepting_a_stale_version_records_nothing(client, login_as, user, terms):
    terms()
    login_as(user)
    terms(body="第1条 改定しました。")
    response = client.post("/terms/accept", data={"version": "1"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/terms/accept")
    assert _acceptances(user) == []


def test_declining_logs_out(client, login_as, user, terms):
    terms()
    login_as(user)
    response = client.post("/terms/decline")
    assert response.status_code == 302
    assert client.get("/auth/settings").status_code == 302  # to the login page
    assert _acceptances(user) == []


def test_no_terms_no_gate(client, login_as, user):
    login_as(user)
    assert client.get("/").status_code == 200


def test_registration_records_acceptance_of_current_terms(client, make, terms, outbox):
    from app.auth.models import User

    terms()
    current = terms(body="第2版の本文")
    issued = make.invitation(email="new@example.jp")
    token = issued[1] if isinstance(issued, tuple) else issued.token
    page = client.get(f"/auth/invite/{token}").get_data(as_text=True)
    assert 'href="/pages/terms"' in page
    response = client.post(
        f"/auth/invite/{token}",
        data={
            "email": "new@example.jp",
            "handle": "newbie",
            "display_name": "新人",
            "password": "a long enough passphrase",
            "password_confirm": "a long enough passphrase",
        },
    )
    assert response.status_code == 302
    newbie = db.session.execute(select(User).where(User.handle == "newbie")).scalar_one()
    assert [a.version_id for a in services.acceptances(newbie)] == [current.id]
    assert client.get("/").status_code == 200


def test_gate_costs_one_query_per_page(client, login_as, user, terms):
    from tests.notices.conftest import count_queries

    login_as(user)
    with count_queries() as before:
        client.get("/notices")
    terms()
    client.post("/terms/accept", data={"version": "1"})
    client.get("/notices")  # shows (and so clears) the thank-you message
    with count_queries() as after:
        client.get("/notices")
    # The terms check, plus the footer's page links that now exist: the same count either way.
    assert len(after) - len(before) <= 1, "\n".join(after)


def test_demo_seeds_version_one_of_each_page_once(app, make):
    from app.auth.models import RoleCode
    from app.notices.models import Announcement
    from app.notices.sample import build_notices_demo

    resident = make.user(handle="haruka")
    staff = make.user(handle="city_tanaka", role=RoleCode.STAFF)
    members = {"haruka": resident, "city_tanaka": staff}
    build_notices_demo(members)
    db.session.commit()
    build_notices_demo(members)  # idempotent
    db.session.commit()
    current = services.current_pages()
    assert {kind: page.version for kind, page in current.items()} == dict.fromkeys(PageKind, 1)
    assert current[PageKind.TERMS].title == "利用規約"
    assert _acceptances(resident) == [1]
    assert len(db.session.execute(select(Announcement)).all()) == 2


def test_after_the_demo_every_member_has_accepted_the_terms(app, client):
    from sqlalchemy import func

    from app.auth.models import User

    result = app.test_cli_runner().invoke(args=["sample", "demo"])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    terms = services.current_page(PageKind.TERMS)
    assert terms is not None and terms.version == 1
    users = db.session.execute(select(func.count(User.id))).scalar_one()
    accepted = db.session.execute(
        select(func.count(TermsAcceptance.id)).where(TermsAcceptance.version_id == terms.id)
    ).scalar_one()
    assert accepted == users
    # So demo logins go straight to the home page, with the pinned public announcement on it.
    response = client.post(
        "/auth/login", data={"email": "haruka@midori.example", "password": "midori-demo-2026"}
    )
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert "「参画」の試行を始めました" in home.get_data(as_text=True)


def test_open_registration_records_acceptance_too(app, client, terms):
    from app.auth.models import User

    app.config["REGISTRATION_OPEN"] = True
    current = terms()
    response = client.post(
        "/auth/register",
        data={
            "email": "open@example.jp",
            "handle": "opener",
            "display_name": "公開 登録",
            "password": "a long enough passphrase",
            "password_confirm": "a long enough passphrase",
        },
    )
    assert response.status_code == 200
    db.session.rollback()
    opener = db.session.execute(select(User).where(User.handle == "opener")).scalar_one()
    assert [a.version_id for a in services.acceptances(opener)] == [current.id]
