"""SNS recruitment: the opt-in setting, the banner, announcements, and answering as an opted-in
member — still card-checked, once per person (a member who is also a monitor answers once),
and unlinkable."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import event, func, select

from app.db import utcnow
from app.extensions import db
from app.survey import answering, identity, recruitment, targeting
from app.survey.answering import AlreadyAnswered, NotEligible, Respondent
from app.survey.services import CertIdentity
from app.survey.surveys_models import Participation, Response, SnsAnnouncement, SnsOptIn
from tests.survey.surveys_helpers import GOOD, open_survey

SNS = {"sns_members": True}
SNS_ONLY = {"sns_members": True, "monitors": False}
PAGE1 = {"q_q1": "はい", "q_q2": "図書館", "q_q3": "4", "q_q4": "よい"}
PAGE2 = {"q_q5": "A", "q_q6": "3", "q_q7__0": "4", "q_q7__1": "2", "q_q8__0": "2",
         "q_q8__1": "1", "q_q8__2": "3", "q_q9": "2026-01-05"}  # fmt: skip


def _cert(n: int) -> CertIdentity:
    return CertIdentity(
        anchor="a" * 64,
        serial=f"{n:08X}",
        spki_sha256=f"{n:064x}",
        not_after=utcnow() + dt.timedelta(days=365),
    )


def _bind(user: Any, cert: CertIdentity) -> None:
    """The member's account holds this card (as the JPKI binding flow leaves it)."""
    from app.auth.jpki_web import cert_key
    from app.auth.models import CertificateBinding

    db.session.add(
        CertificateBinding(
            cert_key=cert_key(cert.anchor, cert.serial, cert.spki_sha256),
            user_id=user.id,
            serial_hint=cert.serial[-4:],
            not_after=cert.not_after,
        )
    )
    db.session.commit()


def _opt_in(user: Any) -> None:
    recruitment.set_opt_in(user, True)
    db.session.commit()


def _card_checked(client: Any, cert: CertIdentity) -> None:
    """This browser passed a JPKI check with `cert` just now (what /surveys/<key>/jpki keeps)."""
    with client.session_transaction() as sess:
        sess[identity.SESSION_CERT] = cert.as_json()
        sess[identity.SESSION_AT] = utcnow().isoformat()


def _count(model: Any) -> int:
    db.session.rollback()
    return int(db.session.execute(select(func.count()).select_from(model)).scalar_one())


def _answer_over_http(client: Any, survey: Any) -> Any:
    r = client.post(f"/monitors/surveys/{survey.key}/start", data={"consent": "yes"})
    assert r.status_code == 302, r.get_data(as_text=True)
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    token = re.search(r'name="draft" value="([^"]+)"', html).group(1)
    client.post(f"/monitors/surveys/{survey.key}/page/1", data={**PAGE1, "draft": token})
    client.post(f"/monitors/surveys/{survey.key}/page/2", data={**PAGE2, "draft": token})
    return client.post(f"/monitors/surveys/{survey.key}/submit", data={"draft": token})


# --- the setting ------------------------------------------------------------------------------


def test_members_opt_in_and_out_on_their_settings_page(client, user, login_as):
    assert client.get("/monitors/sns-settings").status_code == 302  # guests log in first
    login_as(user)
    assert "/monitors/sns-settings" in client.get("/settings/sns").get_data(as_text=True)
    page = client.get("/monitors/sns-settings")
    assert page.status_code == 200
    assert 'name="opt_in"' in page.get_data(as_text=True)
    r = client.post("/monitors/sns-settings", data={"opt_in": "y"})
    assert r.status_code == 302
    assert recruitment.is_opted_in(user.id)
    assert "checked" in client.get("/monitors/sns-settings").get_data(as_text=True)
    client.post("/monitors/sns-settings", data={})
    db.session.rollback()
    assert not recruitment.is_opted_in(user.id)


# --- the banner -------------------------------------------------------------------------------


def test_banner_shows_open_sns_surveys_to_opted_in_members_only(client, make, user, login_as):
    sns = open_survey(target=SNS)
    sns.title = "SNS会員向けの調査"
    monitors_only = open_survey()
    monitors_only.title = "モニターだけの調査"
    upcoming = open_survey(target=SNS, opened=False)
    upcoming.title = "まだ始まらない調査"
    db.session.commit()
    other = make.user(handle="nobanner")
    _opt_in(user)

    login_as(user)
    body = client.get("/settings/sns").get_data(as_text=True)
    assert "SNS会員向けの調査" in body
    assert f"/monitors/surveys/{sns.key}" in body
    assert "モニターだけの調査" not in body and "まだ始まらない調査" not in body

    other_client = client.application.test_client()
    login_as(other, the_client=other_client)
    assert "SNS会員向けの調査" not in other_client.get("/settings/sns").get_data(as_text=True)
    guest = client.application.test_client()
    assert "SNS会員向けの調査" not in guest.get("/").get_data(as_text=True)

    sns.closes_at = utcnow() - dt.timedelta(minutes=1)
    sns.opens_at = utcnow() - dt.timedelta(days=2)
    db.session.commit()
    assert "SNS会員向けの調査" not in client.get("/settings/sns").get_data(as_text=True)


def _queries_for(client: Any, path: str) -> int:
    statements: list[str] = []

    def _seen(_conn: Any, _cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", _seen)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", _seen)
    return len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))])


def test_banner_costs_no_query_without_opt_in_and_one_with(client, user, login_as):
    survey = open_survey(target=SNS)
    login_as(user)
    client.get("/settings/sns")  # warm: anything a first page loads once
    without = _queries_for(client, "/settings/sns")
    assert _queries_for(client, "/settings/sns") == without
    client.post("/monitors/sns-settings", data={"opt_in": "y"})  # kept in this session too
    assert _queries_for(client, "/settings/sns") == without + 1
    assert f"/monitors/surveys/{survey.key}" in client.get("/settings/sns").get_data(as_text=True)
    client.post("/monitors/sns-settings", data={})
    assert _queries_for(client, "/settings/sns") == without
    # A login reads the choice once: the next session shows the banner from its first page.
    _opt_in(user)
    fresh = client.application.test_client()
    login_as(user, the_client=fresh)
    assert f"/monitors/surveys/{survey.key}" in fresh.get("/settings/sns").get_data(as_text=True)


def test_banner_hides_surveys_answered_as_member(app, user):
    survey = open_survey(target=SNS)
    _opt_in(user)
    assert [s.key for s in recruitment.banner_surveys(user)] == [survey.key]
    db.session.add(Participation(survey_id=survey.id, member_id=user.id, status="submitted"))
    db.session.commit()
    assert recruitment.banner_surveys(user) == []


# --- announcements ----------------------------------------------------------------------------


def test_announce_notifies_opted_in_members_once(client, make, user, login_as):
    survey = open_survey(target=SNS)
    quiet = make.user(handle="quiet")
    _opt_in(user)
    assert recruitment.announce(survey) == 1
    db.session.commit()
    assert recruitment.announce(survey) == 0  # resumable: nobody is told twice
    db.session.commit()
    assert _count(SnsAnnouncement) == 1
    from app.sns.models import Notification

    notes = db.session.execute(select(Notification)).scalars().all()
    assert [(n.user_id, n.kind, n.object_id) for n in notes] == [(user.id, "survey", survey.id)]
    assert quiet.id not in {n.user_id for n in notes}
    login_as(user)
    page = client.get("/notifications").get_data(as_text=True)
    assert f'href="/monitors/surveys/{survey.key}"' in page
    assert "アンケート" in page or "survey" in page

    closed = open_survey(target=SNS)
    closed.closes_at = utcnow() - dt.timedelta(minutes=1)
    closed.opens_at = utcnow() - dt.timedelta(days=1)
    monitors_only = open_survey()
    db.session.commit()
    assert recruitment.announce(closed) == 0
    assert recruitment.announce(monitors_only) == 0


def test_staff_announce_button(app, client, make, login_as):
    from app.auth.models import RoleCode

    staff = make.user(handle="staffer", role=RoleCode.STAFF)
    member = make.user(handle="listener")
    _opt_in(member)
    survey = open_survey(target=SNS)
    login_as(staff)
    page = client.get(f"/staff/surveys/{survey.key}").get_data(as_text=True)
    assert f"/staff/surveys/{survey.key}/announce" in page
    r = client.post(f"/staff/surveys/{survey.key}/announce")
    assert r.status_code == 302
    assert _count(SnsAnnouncement) == 1
    plain = open_survey()
    r = client.post(f"/staff/surveys/{plain.key}/announce", follow_redirects=True)
    assert r.status_code == 200
    assert _count(SnsAnnouncement) == 1
    member_client = app.test_client()
    login_as(member, the_client=member_client)
    assert member_client.post(f"/staff/surveys/{survey.key}/announce").status_code == 404


def test_staff_choose_who_answers(client, make, login_as):
    from app.auth.models import RoleCode
    from app.survey.surveys_models import Survey

    login_as(make.user(handle="author", role=RoleCode.STAFF))
    keys = {}
    for audience in ("monitors", "sns", "both"):
        r = client.post(
            "/staff/surveys/new",
            data={
                "title": f"誰が答える {audience}",
                "opens_at": "2030-04-01T09:00",
                "closes_at": "2030-04-30T17:00",
                "k": "5",
                "districts": ["北町"],
                "audience": audience,
            },
        )
        assert r.status_code == 302
        keys[audience] = r.headers["Location"].rsplit("/", 1)[-1]
    db.session.rollback()
    targets = {
        a: db.session.execute(select(Survey).where(Survey.key == k)).scalar_one().target
        for a, k in keys.items()
    }
    assert targets["monitors"] == {"districts": ["北町"]}
    assert targets["sns"] == {"districts": ["北町"], "sns_members": True, "monitors": False}
    assert targets["both"] == {"districts": ["北町"], "sns_members": True}
    page = client.get(f"/staff/surveys/{keys['sns']}").get_data(as_text=True)
    assert re.search(r'value="sns"\s+checked', page)


def test_announce_command(app, user):
    survey = open_survey(target=SNS)
    _opt_in(user)
    result = app.test_cli_runner().invoke(args=["survey", "announce", survey.key])
    assert result.exit_code == 0, result.output
    assert '"notified": 1' in result.output
    again = app.test_cli_runner().invoke(args=["survey", "announce", survey.key])
    assert '"notified": 0' in again.output


# --- answering as a member --------------------------------------------------------------------


def test_opted_in_member_answers_once_with_a_card(client, user, login_as):
    survey = open_survey(target=SNS_ONLY)
    cert = _cert(1)
    _bind(user, cert)
    _opt_in(user)
    login_as(user)
    intro = client.get(f"/monitors/surveys/{survey.key}").get_data(as_text=True)
    assert "/auth/jpki" in intro  # the card check comes first
    _card_checked(client, cert)
    done = _answer_over_http(client, survey)
    assert done.status_code == 200, done.get_data(as_text=True)
    assert re.search(r'<strong lang="en">([0-9A-Z-]+)</strong>', done.get_data(as_text=True))
    row = db.session.execute(select(Participation)).scalar_one()
    assert (row.monitor_id, row.member_id, row.status) == (None, user.id, "submitted")
    response = db.session.execute(select(Response)).scalar_one()
    assert (response.district, response.sex, response.age_band) == ("", "", "")
    again = client.post(f"/monitors/surveys/{survey.key}/start", data={"consent": "yes"})
    assert again.status_code == 409
    assert _count(Response) == 1


def test_member_not_opted_in_or_without_card_or_on_a_monitor_survey_is_refused(
    client, user, login_as
):
    sns = open_survey(target=SNS_ONLY)
    monitors_only = open_survey()
    cert = _cert(2)
    _bind(user, cert)
    login_as(user)
    _card_checked(client, cert)
    r = client.post(f"/monitors/surveys/{sns.key}/start", data={"consent": "yes"})
    assert r.status_code == 409  # no opt-in: not a respondent at all
    _opt_in(user)
    page = client.get(f"/monitors/surveys/{monitors_only.key}").get_data(as_text=True)
    assert "other residents" in page or "対象" in page
    r = client.post(f"/monitors/surveys/{monitors_only.key}/start", data={"consent": "yes"})
    assert r.status_code == 409
    # Opted in, but the card checked in this browser is not the one bound to the account.
    _card_checked(client, _cert(3))
    r = client.post(f"/monitors/surveys/{sns.key}/start", data={"consent": "yes"})
    assert r.status_code == 409
    assert _count(Participation) == 0


def test_a_card_bound_to_another_member_does_not_answer_for_the_logged_in_one(
    client, make, user, login_as
):
    survey = open_survey(target=SNS_ONLY)
    owner = make.user(handle="cardowner")
    cert = _cert(4)
    _bind(owner, cert)
    _opt_in(owner)
    _opt_in(user)
    login_as(user)
    _card_checked(client, cert)
    r = client.post(f"/monitors/surveys/{survey.key}/start", data={"consent": "yes"})
    assert r.status_code == 409
    assert _count(Participation) == 0


def test_a_member_who_is_also_a_monitor_answers_once_either_way(make, user):
    survey = open_survey(target=SNS)
    cert = _cert(5)
    _bind(user, cert)
    _opt_in(user)
    monitor = make.monitor(certificate=cert)
    as_member = Respondent(monitor=monitor, member_id=user.id, member_opted_in=True)
    answering.submit(survey, monitor, GOOD)
    db.session.commit()
    with pytest.raises(AlreadyAnswered):
        answering.submit(survey, as_member, GOOD)
    db.session.rollback()
    assert _count(Response) == 1
    # The monitor is the guard even when the monitor is outside the monitor target.
    elsewhere = open_survey(target={**SNS, "districts": ["南町"]})
    assert monitor.district != "南町"
    answering.submit(elsewhere, as_member, GOOD)
    db.session.commit()
    with pytest.raises(AlreadyAnswered):
        answering.submit(elsewhere, as_member, GOOD)
    db.session.rollback()
    rows = db.session.execute(
        select(Participation.monitor_id, Participation.member_id).where(
            Participation.survey_id == elsewhere.id
        )
    ).all()
    assert rows == [(monitor.id, None)]  # no row ties the monitor to the member


def test_answered_as_member_then_registered_as_monitor_cannot_answer_again(make, user):
    survey = open_survey(target=SNS)
    cert = _cert(6)
    _bind(user, cert)
    _opt_in(user)
    answering.submit(survey, Respondent(member_id=user.id, member_opted_in=True), GOOD)
    db.session.commit()
    monitor = make.monitor(certificate=cert)
    with pytest.raises(AlreadyAnswered):
        answering.start(survey, Respondent(monitor=monitor, member_id=user.id), consented=True)
    db.session.rollback()
    with pytest.raises(AlreadyAnswered):
        answering.submit(survey, Respondent(monitor=monitor, member_id=user.id), GOOD)
    db.session.rollback()
    assert _count(Response) == 1
    # A monitor whose card is bound to nobody else answers as usual.
    other = make.monitor()
    answering.submit(survey, other, GOOD)
    db.session.commit()
    assert _count(Response) == 2


def test_sns_only_surveys_take_no_monitors_and_need_someone(make):
    survey = open_survey(target=SNS_ONLY)
    monitor = make.monitor()
    with pytest.raises(NotEligible):
        answering.submit(survey, monitor, GOOD)
    db.session.rollback()
    assert targeting.draw_sample(survey) == 0
    with pytest.raises(ValueError, match="SNS"):
        targeting.clean_target({"monitors": False}, ["中央"])
    assert targeting.clean_target({"monitors": True, "sns_members": True}, []) == SNS


def test_opting_out_ends_the_member_path(client, user, login_as):
    survey = open_survey(target=SNS_ONLY)
    cert = _cert(7)
    _bind(user, cert)
    _opt_in(user)
    login_as(user)
    _card_checked(client, cert)
    intro = client.get(f"/monitors/surveys/{survey.key}").get_data(as_text=True)
    assert "/start" in intro
    recruitment.set_opt_in(user, False)
    db.session.commit()
    assert db.session.get(SnsOptIn, user.id) is None
    intro = client.get(f"/monitors/surveys/{survey.key}").get_data(as_text=True)
    assert "/start" not in intro
