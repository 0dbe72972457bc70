"""Answering: server-enforced order, once only under concurrency, unlinkable storage, bad input."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading

import pytest
from sqlalchemy import func, inspect, select, text

from app.db import utcnow
from app.extensions import db
from app.survey import answering, authoring
from app.survey.answering import AlreadyAnswered, AnswersInvalid, StepUpRequired, SurveyNotOpen
from app.survey.surveys_models import Draft, Participation, Response, SurveyLocked
from tests.survey.surveys_helpers import GOOD, open_survey


def _count(model):
    db.session.rollback()
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def _start(client, survey):
    page = client.get(f"/monitors/surveys/{survey.key}")
    assert page.status_code == 200
    r = client.post(f"/monitors/surveys/{survey.key}/start", data={"consent": "yes"})
    assert r.status_code == 302, r.get_data(as_text=True)
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    return re.search(r'name="draft" value="([^"]+)"', html).group(1)


PAGE1 = {"q_q1": "はい", "q_q2": "図書館", "q_q3": "4", "q_q4": "よい"}
PAGE2 = {"q_q5": "A", "q_q6": "3", "q_q7__0": "4", "q_q7__1": "2", "q_q8__0": "2",
         "q_q8__1": "1", "q_q8__2": "3", "q_q9": "2026-01-05"}  # fmt: skip


def test_full_journey_with_receipt_and_second_attempt_refused(client, make, monitor_login):
    survey = open_survey()
    monitor = make.monitor()
    intro = client.get(f"/monitors/surveys/{survey.key}").get_data(as_text=True)
    assert "マイナンバーカード" in intro or "My Number Card" in intro  # step-up first
    monitor_login(monitor)
    token = _start(client, survey)
    r = client.post(f"/monitors/surveys/{survey.key}/page/1", data={**PAGE1, "draft": token})
    assert r.headers["Location"].endswith("/page/2")
    r = client.post(f"/monitors/surveys/{survey.key}/page/2", data={**PAGE2, "draft": token})
    assert r.headers["Location"].endswith("/confirm")
    assert "福祉" in client.get(f"/monitors/surveys/{survey.key}/confirm").get_data(as_text=True)
    done = client.post(f"/monitors/surveys/{survey.key}/submit", data={"draft": token})
    assert done.status_code == 200
    receipt = re.search(r'<strong lang="en">([0-9A-Z-]+)</strong>', done.get_data(as_text=True))
    assert receipt
    assert _count(Response) == 1 and _count(Draft) == 0
    row = db.session.execute(select(Response)).scalar_one()
    assert json.loads(row.cells_json) == {"q6": 3, "q9": "2026-01-05"}
    assert row.codes[0] == 1  # q1: the first choice, はい
    # A retry of the same form (same draft token) returns the first result (§4.2)…
    again = client.post(f"/monitors/surveys/{survey.key}/submit", data={"draft": token})
    assert again.status_code == 200
    assert receipt.group(0) in again.get_data(as_text=True)
    # …any other second answer is refused.
    other = client.post(f"/monitors/surveys/{survey.key}/submit", data={"draft": "x" * 43})
    assert other.status_code == 409
    assert "already answered" in other.get_data(as_text=True) or "回答済み" in other.get_data(
        as_text=True
    )
    assert receipt.group(1) not in other.get_data(as_text=True)
    restart = client.post(f"/monitors/surveys/{survey.key}/start", data={"consent": "yes"})
    assert restart.status_code == 409
    assert _count(Response) == 1 and _count(Draft) == 0
    check = client.post(f"/monitors/surveys/{survey.key}/receipt", data={"code": receipt.group(1)})
    body = check.get_data(as_text=True)
    assert "Counted" in body or "受け付け" in body
    assert "福祉" not in body  # confirms counting, reveals nothing
    wrong = client.post(f"/monitors/surveys/{survey.key}/receipt", data={"code": "AAAA-BBBB-CCCC"})
    assert "Counted" not in wrong.get_data(as_text=True)


def test_submit_without_step_up_or_consent_or_after_close(app, client, make, monitor_login):
    survey = open_survey()
    monitor = make.monitor()
    r = client.post(f"/monitors/surveys/{survey.key}/start", data={"consent": "yes"})
    assert r.status_code == 409  # no JPKI step-up
    monitor_login(monitor)
    r = client.post(f"/monitors/surveys/{survey.key}/start", data={})
    assert r.status_code == 422  # no consent
    assert _count(Participation) == 0
    token = _start(client, survey)
    client.post(f"/monitors/surveys/{survey.key}/page/1", data={**PAGE1, "draft": token})
    app.config["JPKI_STEP_UP_MINUTES"] = 0.0001  # the card check is now too old
    r = client.post(f"/monitors/surveys/{survey.key}/submit", data={"draft": token})
    assert r.status_code == 409 and _count(Response) == 0
    app.config["JPKI_STEP_UP_MINUTES"] = 15
    survey.closes_at = utcnow() - dt.timedelta(minutes=1)
    survey.opens_at = utcnow() - dt.timedelta(days=1)
    db.session.commit()
    r = client.post(f"/monitors/surveys/{survey.key}/submit", data={"draft": token})
    assert r.status_code == 409 and _count(Response) == 0
    with pytest.raises(SurveyNotOpen):
        answering.submit(survey, monitor, GOOD)
    with pytest.raises(StepUpRequired):
        answering.check_eligible(survey, None)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"q99": "x"}, "_form"),  # forged question id
        ({"q1": "いいえ", "q5": "A"}, "_form"),  # answer to a branched-out question
        ({"q3": 6}, "q3"),  # outside the scale
        ({"q3": "4.5"}, "q3"),
        ({"q2": ["図書館", "公園", "病院"]}, "q2"),  # too many choices
        ({"q2": ["図書館", "図書館"]}, "q2"),
        ({"q4": "あ" * 21}, "q4"),  # over-long text
        ({"q6": 11}, "q6"),
        ({"q1": "たぶん"}, "q1"),
        ({"q7": {"広報": 9}}, "q7"),
        ({"q7": {"その他": 3}}, "q7"),
        ({"q8": ["防災", "防災"]}, "q8"),
        ({"q9": "2026-13-01"}, "q9"),
        ({"q1": ""}, "q1"),  # missing required answer
    ],
)
def test_bad_answers_are_refused_and_nothing_is_stored(make, change, where):
    survey = open_survey()
    monitor = make.monitor()
    answers = {**GOOD, **change}
    if change.get("q1") == "いいえ":
        answers = {**answers}
    with pytest.raises(AnswersInvalid) as info:
        answering.submit(survey, monitor, answers)
    assert where in info.value.errors
    db.session.rollback()
    assert _count(Response) == 0 and _count(Participation) == 0


def test_bad_page_posts_show_messages_and_keep_the_draft(client, make, monitor_login):
    survey = open_survey()
    monitor_login(make.monitor())
    token = _start(client, survey)
    r = client.post(
        f"/monitors/surveys/{survey.key}/page/1",
        data={**PAGE1, "q_q3": "9", "q_q99": "x", "draft": token},
    )
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="e-q3"' in html and 'aria-invalid="true"' in html
    draft = db.session.execute(select(Draft)).scalar_one()
    assert json.loads(draft.answers_json) == {}
    # a field of another page posted on page 1 is refused too
    r = client.post(
        f"/monitors/surveys/{survey.key}/page/1", data={**PAGE1, "q_q6": "3", "draft": token}
    )
    assert r.status_code == 422


def test_someone_elses_draft_and_an_old_form_are_refused(app, client, make, monitor_login):
    survey = open_survey()
    alice, bob = make.monitor(), make.monitor()
    monitor_login(alice)
    alice_token = _start(client, survey)
    other = app.test_client()
    monitor_login_other = other.session_transaction
    from app.survey import identity

    with monitor_login_other() as sess:
        sess[identity.SESSION_MONITOR] = bob.pseudonym
        sess[identity.SESSION_AT] = utcnow().isoformat()
    other.post(f"/monitors/surveys/{survey.key}/start", data={"consent": "yes"})
    r = other.post(f"/monitors/surveys/{survey.key}/page/1", data={**PAGE1, "draft": alice_token})
    assert r.status_code == 409
    r = other.post(f"/monitors/surveys/{survey.key}/submit", data={"draft": alice_token})
    assert r.status_code == 409
    db.session.rollback()
    drafts = {
        d.token: json.loads(d.answers_json) for d in db.session.execute(select(Draft)).scalars()
    }
    assert drafts[alice_token] == {}
    assert _count(Response) == 0


def _submit_in_thread(app, survey_id, monitor_id, barrier, outcomes):
    with app.app_context():
        from app.survey.models import Monitor
        from app.survey.surveys_models import Survey

        survey = db.session.get(Survey, survey_id)
        monitor = db.session.get(Monitor, monitor_id)
        db.session.commit()  # end the read transaction (on SQLite it holds the write lock)
        barrier.wait()
        try:
            answering.submit(survey, monitor, GOOD)
            db.session.commit()
            outcomes.append("ok")
        except AlreadyAnswered:
            db.session.rollback()
            outcomes.append("already")
        except Exception as exc:  # the test reports any other outcome
            db.session.rollback()
            outcomes.append(repr(exc))
        finally:
            db.session.remove()


def test_twenty_threads_submit_at_once_one_response(app, make):
    survey = open_survey()
    monitor = make.monitor()
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    threads = [
        threading.Thread(
            target=_submit_in_thread, args=(app, survey.id, monitor.id, barrier, outcomes)
        )
        for _ in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already"] * 19 + ["ok"]
    assert _count(Response) == 1 and _count(Participation) == 1


def test_twenty_browsers_submit_at_once_no_500(app, client, make, monitor_login):
    survey = open_survey()
    monitor = make.monitor()
    monitor_login(monitor)
    token = _start(client, survey)
    client.post(f"/monitors/surveys/{survey.key}/page/1", data={**PAGE1, "draft": token})
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    barrier = threading.Barrier(20)
    codes: list[int] = []

    url = f"/monitors/surveys/{survey.key}/submit"

    receipts: list[str] = []

    def worker():
        c = app.test_client()
        c.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
        barrier.wait()
        r = c.post(url, data={"draft": token})
        codes.append(r.status_code)
        found = re.search(r'<strong lang="en">([0-9A-Z-]+)</strong>', r.get_data(as_text=True))
        receipts.append(found.group(1) if found else "")

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # One submit stores the answers; the 19 others are retries of the same form and get the
    # first result: the same receipt. Never a 500, never a second response.
    assert codes == [200] * 20, codes
    assert len(set(receipts)) == 1 and receipts[0]
    assert _count(Response) == 1


def test_storage_does_not_join_participation_and_responses(app, make):
    survey = open_survey(k=2)
    monitors = [make.monitor() for _ in range(12)]
    receipts = []
    for m in monitors:
        receipts.append(answering.submit(survey, m, {**GOOD, "q6": 1 + monitors.index(m) % 10}))
        db.session.commit()
    by_hash = {r.receipt_hash: r.id for r in db.session.execute(select(Response)).scalars()}
    submitted = [by_hash[answering.receipt_hash(survey, code)] for code in receipts]
    insp = inspect(db.engine)
    part_cols = {c["name"]: c for c in insp.get_columns("survey_participations")}
    resp_cols = {c["name"]: c for c in insp.get_columns("survey_responses")}
    assert set(part_cols) == {"id", "survey_id", "monitor_id", "member_id", "status", "retry_box"}
    assert set(part_cols) & set(resp_cols) == {"id", "survey_id"}
    assert not any("monitor" in n or "session" in n or n == "ip" for n in resp_cols)
    times = [n for n, c in resp_cols.items() if "TIME" in str(c["type"]).upper()]
    assert times == [] and "DATE" in str(resp_cols["answered_on"]["type"]).upper()
    assert not [n for n, c in part_cols.items() if "DATE" in str(c["type"]).upper()]
    fks = insp.get_foreign_keys("survey_responses")
    assert {fk["referred_table"] for fk in fks} == {"survey_surveys"}
    ids = [r[0] for r in db.session.execute(text("SELECT id FROM survey_responses")).all()]
    part_ids = [
        r[0] for r in db.session.execute(text("SELECT id FROM survey_participations")).all()
    ]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert not set(map(str, part_ids)) & set(ids)
    if db.engine.dialect.name == "sqlite":
        ddl = db.session.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'survey_responses'")
        ).scalar_one()
        assert "WITHOUT ROWID" in ddl.upper()
        # Stored order is the random id's order, not the order of submission.
        assert ids == sorted(ids)
        assert ids != submitted  # 12 random ids in submission order: a 1 in 479,001,600 chance
        with pytest.raises(Exception, match="rowid"):
            db.session.execute(text("SELECT rowid FROM survey_responses")).all()
        db.session.rollback()
    days = {r.answered_on for r in db.session.execute(select(Response)).scalars()}
    assert all(isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in days)


def test_anonymity_frozen_and_survey_locked_once_open(make):
    survey = open_survey(opened=False)
    authoring.add_question(survey, {"type": "scale", "text": "追加", "options": {"points": 5}})
    survey.opens_at = utcnow() - dt.timedelta(minutes=1)
    db.session.commit()
    with pytest.raises(SurveyLocked):
        authoring.add_question(survey, {"type": "scale", "text": "後から", "options": {}})
    with pytest.raises(SurveyLocked):
        authoring.delete_question(survey, survey.questions[0])
    answering.submit(survey, make.monitor(), GOOD)
    db.session.commit()
    data = {
        "title": survey.title,
        "opens_at": survey.opens_at,
        "closes_at": survey.closes_at,
        "anonymity": "named",
        "k": survey.k,
    }
    with pytest.raises(SurveyLocked):
        authoring.update_survey(survey, data)
    assert survey.anonymity == "anonymous"


def test_named_survey_links_only_there(make):
    survey = open_survey(anonymity="named")
    monitor = make.monitor()
    answering.submit(survey, monitor, GOOD)
    db.session.commit()
    link = db.session.execute(text("SELECT monitor_pseudonym FROM survey_named_links")).scalar_one()
    assert link == monitor.pseudonym


def test_target_outside_is_refused_with_a_clear_page(client, make, monitor_login):
    survey = open_survey(target={"districts": ["北町"]})
    monitor = make.monitor()  # district from the default address is not 北町
    monitor_login(monitor)
    page = client.get(f"/monitors/surveys/{survey.key}")
    assert page.status_code == 200
    r = client.post(f"/monitors/surveys/{survey.key}/start", data={"consent": "yes"})
    assert r.status_code == 409
    assert _count(Participation) == 0


def test_scrub_leaves_no_shared_transaction_or_order(app, make):
    survey = open_survey(k=2)
    for _ in range(6):
        answering.submit(survey, make.monitor(), GOOD)
        db.session.commit()
    out = app.test_cli_runner().invoke(args=["survey", "scrub", survey.key])
    assert json.loads(out.output) == {"participations": 6, "responses": 6}
    db.session.rollback()
    ids = [r[0] for r in db.session.execute(text("SELECT id FROM survey_responses")).all()]
    assert ids == sorted(ids)  # stored in random-id order on both databases
    if db.engine.dialect.name == "postgresql":
        xmins = {
            r[0]
            for r in db.session.execute(
                text(
                    "SELECT xmin::text FROM survey_responses UNION ALL "
                    "SELECT xmin::text FROM survey_participations WHERE status = 'submitted'"
                )
            ).all()
        }
        assert len(xmins) == 1  # one rewrite transaction for all: no per-answer pairing


def test_retry_box_opens_only_with_the_form_token_and_the_scrub_empties_it(app, make):
    from app.survey.scrub import scrub

    survey = open_survey()
    monitor, other = make.monitor(), make.monitor()
    draft = answering.start(survey, monitor, consented=True)
    db.session.commit()
    token = draft.token
    code = answering.submit(survey, monitor, GOOD, draft_token=token)
    db.session.commit()
    row = answering.participation_for(survey, monitor)
    box = bytes(row.retry_box)
    # The box holds neither the code nor its hash, and the token is gone with the draft.
    assert code.encode() not in box and code.replace("-", "").encode() not in box
    assert answering.receipt_hash(survey, code).encode() not in box
    assert _count(Draft) == 0
    assert answering.first_receipt(survey, monitor, token) == code
    assert answering.first_receipt(survey, monitor, "y" * 43) is None
    assert answering.first_receipt(survey, other, token) is None  # another person's row
    # The service is idempotent for the same form, and refuses any other second answer.
    assert answering.submit(survey, monitor, GOOD, draft_token=token) == code
    db.session.rollback()
    with pytest.raises(AlreadyAnswered):
        answering.submit(survey, monitor, GOOD)
    db.session.rollback()
    with pytest.raises(AlreadyAnswered):
        answering.submit(survey, monitor, {**GOOD, "q1": "いいえ"}, draft_token="z" * 43)
    db.session.rollback()
    assert _count(Response) == 1
    scrub(survey)
    db.session.expire_all()
    assert answering.participation_for(survey, monitor).retry_box is None
    assert answering.first_receipt(survey, monitor, token) is None
