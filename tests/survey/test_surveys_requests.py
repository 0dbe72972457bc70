"""Targeting, request mails, reminders, unsubscribe; staff authoring screens; sample load."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.extensions import db
from app.privacy.models import AuditEntry
from app.survey import answering, targeting
from app.survey.surveys_models import Invitation, Participation, Response, Survey
from tests.survey.surveys_helpers import GOOD, open_survey


def test_requests_reminders_and_unsubscribe(app, client, make, outbox):
    survey = open_survey(target={"districts": ["北町"]})
    kita = [make.monitor(address=f"新潟県長岡市北町{n}丁目") for n in range(1, 4)]
    make.monitor(address="新潟県長岡市南町1丁目")  # outside the target
    silent = make.monitor(address="新潟県長岡市北町9丁目", consents=["registration"])
    assert targeting.draw_sample(survey) == 4
    db.session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(
        args=["survey", "send-requests", survey.key, "--batch", "2", "--max-batches", "1"]
    )
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["remaining"] == 2  # throttled: stopped after one batch
    rest = runner.invoke(args=["survey", "send-requests", survey.key, "--batch", "2"])
    no_address = json.loads(first.output)["no_address"] + json.loads(rest.output)["no_address"]
    assert no_address == 1  # `silent` gave no consent to survey requests
    mails = [m for m in outbox() if m.kind == "survey_request"]
    assert sorted(m.to_addr for m in mails) == sorted(v for m in kita for v in [_email(m)])
    body = mails[0].body
    assert "/monitors/r/" in body and "/monitors/unsubscribe/" in body
    again = runner.invoke(args=["survey", "send-requests", survey.key])
    assert json.loads(again.output)["queued"] == 0  # resumable: nobody is mailed twice
    audit = (
        db.session.execute(select(AuditEntry).where(AuditEntry.purpose == "survey_request"))
        .scalars()
        .all()
    )
    assert audit and all(e.recipient == "city" for e in audit)
    # kita[0] answers; kita[1] unsubscribes with one click; only kita[2] is reminded
    answering.submit(survey, kita[0], GOOD)
    db.session.commit()
    token = db.session.execute(
        select(Invitation.token).where(Invitation.monitor_id == kita[1].id)
    ).scalar_one()
    assert client.get(f"/monitors/unsubscribe/{token}").status_code == 200
    assert client.post(f"/monitors/unsubscribe/{token}").status_code == 200
    remind = runner.invoke(args=["survey", "send-requests", survey.key, "--reminders"])
    assert json.loads(remind.output)["queued"] == 1
    reminders = [m for m in outbox() if m.kind == "survey_reminder"]
    assert [m.to_addr for m in reminders] == [_email(kita[2])]
    assert client.get(f"/monitors/r/{token}").headers["Location"].endswith(survey.key)
    assert silent.id not in {m.id for m in kita}


def _email(monitor):
    from app.privacy.vault import access

    return access("self", "test", [monitor.pseudonym], "test check")[0]["email"]


def test_random_sample_records_its_seed(make):
    survey = open_survey()
    survey.sample_size = 3
    for n in range(8):
        make.monitor(address=f"新潟県長岡市中央{n}丁目")
    assert targeting.draw_sample(survey, seed=42) == 3
    chosen = set(db.session.execute(select(Invitation.monitor_id)).scalars())
    assert survey.sample_seed == 42
    db.session.execute(Invitation.__table__.delete())
    targeting.draw_sample(survey)
    assert set(db.session.execute(select(Invitation.monitor_id)).scalars()) == chosen
    outsider = next(m for m in db.session.execute(select(Survey)).scalars() if m.id == survey.id)
    assert outsider.sample_seed == 42


def test_staff_author_a_survey_and_it_locks_when_open(client, make, login_as):
    from app.auth.models import RoleCode

    staff = make.user(handle="staff2", role=RoleCode.STAFF)
    assert client.get("/staff/surveys/").status_code in (302, 404)  # guests: no
    login_as(staff)
    r = client.post(
        "/staff/surveys/new",
        data={
            "title": "公園アンケート",
            "opens_at": "2030-04-01T09:00",
            "closes_at": "2030-04-30T17:00",
            "k": "5",
            "districts": ["北町"],
        },
    )
    assert r.status_code == 302
    key = r.headers["Location"].rsplit("/", 1)[-1]
    r = client.post(
        f"/staff/surveys/{key}/questions",
        data={"type": "single", "text": "公園を使いますか", "choices": "はい\nいいえ", "page": "1"},
    )
    assert r.status_code == 302
    client.post(f"/staff/surveys/{key}/questions", data={"type": "scale", "text": "満足度"})
    client.post(f"/staff/surveys/{key}/questions/q2/up")
    db.session.rollback()
    survey = db.session.execute(select(Survey).where(Survey.key == key)).scalar_one()
    assert [q.key for q in survey.questions] == ["q2", "q1"]
    assert survey.target == {"districts": ["北町"]}
    preview = client.get(f"/staff/surveys/{key}/preview").get_data(as_text=True)
    assert "公園を使いますか" in preview
    bad = client.post(f"/staff/surveys/{key}/questions", data={"type": "single", "text": "x"})
    assert bad.status_code == 303  # one choice only: refused with a message
    survey.opens_at = survey.opens_at.replace(year=2020)
    db.session.commit()
    client.post(f"/staff/surveys/{key}/questions", data={"type": "scale", "text": "後から"})
    db.session.rollback()
    assert len(db.session.get(Survey, survey.id).questions) == 2  # locked once open
    copy = client.post(f"/staff/surveys/{key}/copy")
    assert copy.status_code == 302


def _jst(days: int) -> str:
    """A moment `days` from now, as the sample format writes it (JST, ISO 8601)."""
    return (utcnow() + dt.timedelta(days=days)).astimezone(answering.JST).isoformat()


def test_sample_load_takes_a_past_round_with_its_answers(app):
    """A closed survey of an earlier round, with answers: loaded as it was (it used to end in an
    IntegrityError: its questions were added while the survey was moved ahead of its close)."""
    from app.sample.loader import load_sample

    data = {
        "surveys": [
            {
                "key": "past", "title": "前回の調査", "anonymity": "anonymous", "k": 5,
                "opens_at": _jst(days=-40), "closes_at": _jst(days=-20),
                "questions": [
                    {"key": "q1", "type": "single", "text": "はい？",
                     "choices": ["はい", "いいえ"]},
                ],
            }
        ],
        "responses": [
            {"survey": "past", "segment": {"district": "北町", "sex": "male", "age_band": "40s"},
             "answers": {"q1": "はい"}},
        ],
    }  # fmt: skip
    assert load_sample(data)["past"] == "/monitors/surveys/past"
    db.session.commit()
    survey = db.session.execute(select(Survey)).scalar_one()
    assert survey.closes_at < utcnow() and len(survey.questions) == 1
    assert db.session.execute(select(func.count()).select_from(Response)).scalar_one() == 1


def test_sample_load_surveys_and_responses(app, make, tmp_path):
    monitor = make.monitor(address="新潟県長岡市北町1丁目")
    data = {
        "surveys": [
            {
                "key": "s1",
                "title": "テスト",
                "anonymity": "anonymous",
                "k": 5,
                "opens_at": _jst(days=-6),
                "closes_at": _jst(days=13),
                "target": {"districts": ["北町"], "sexes": ["female"], "age_bands": ["30s"]},
                "questions": [
                    {"key": "q1", "type": "single", "text": "はい？", "choices": ["はい", "いいえ"],
                     "required": True},
                ],
            }
        ],
        "responses": [
            {"survey": "s1", "segment": {"district": "北町", "sex": "male", "age_band": "40s"},
             "answers": {"q1": "いいえ"}},
        ],
    }  # fmt: skip
    from app.sample.loader import LoadContext, SampleError, load_sample

    paths = load_sample(data)
    assert paths["s1"] == "/monitors/surveys/s1"
    db.session.commit()
    assert db.session.execute(select(func.count()).select_from(Response)).scalar_one() == 1
    # a named monitor goes through the submit service: target checked, once only
    from app.survey.surveys_sample import load_responses

    ctx = LoadContext()
    ctx.add("t", "s1", db.session.execute(select(Survey)).scalar_one(), "/monitors/surveys/s1")
    ctx.add("t", "mon1", monitor, monitor.pseudonym)
    entry = {"survey": "s1", "monitor": "mon1", "answers": {"q1": "はい"}}
    load_responses([entry], ctx)
    db.session.commit()
    with pytest.raises(SampleError, match="mon1"):
        load_responses([entry], ctx)
    db.session.rollback()
    assert db.session.execute(select(func.count()).select_from(Participation)).scalar_one() == 1
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"surveys": [{"key": "x", "title": "t", "bogus": 1}]}))
    out = app.test_cli_runner().invoke(args=["sample", "load", str(path)])
    assert out.exit_code == 1 and "bogus" in out.output
