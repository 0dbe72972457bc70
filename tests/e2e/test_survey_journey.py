"""Survey journey in Chromium: staff create a survey for a district, a request mail goes out, a
monitor logs in with the test card (signing the challenge as the card client does), answers,
is refused a second time (a retry of the same form gets its first receipt), and the results
show the crosstab with small cells hidden."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.auth.jpki.verify import clear_store_cache
from app.db import utcnow
from app.extensions import db
from tests.card_answer import answer_as_card
from tests.second_factor_support import browser_second_factor
from tests.survey.conftest import monitor_pki  # noqa: F401 - session fixture

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_config(app_config: dict[str, Any], monitor_pki: Any) -> dict[str, Any]:  # noqa: F811
    clear_store_cache()
    app_config.update(
        JPKI_TRUST_DIR=monitor_pki.trust_dir,
        JPKI_CRL_DIR=monitor_pki.crl_dir,
        JPKI_TEST_MODE=True,
    )
    return app_config


def test_staff_target_request_answer_once_and_suppressed_crosstab(
    app,
    live_server,
    browser,
    browser_page,
    make,
    outbox,
    monitor_pki,  # noqa: F811
):
    from app.auth.models import RoleCode
    from app.survey import answering, services
    from app.survey.surveys_models import Survey

    cert = services.certificate_identity(monitor_pki.read("cards/taro/auth.der"))
    monitor = make.monitor(address="新潟県長岡市北町1丁目", certificate=cert)
    make.monitor(address="新潟県長岡市南町2丁目")  # another district: not asked
    staff = make.user(handle="surveystaff", role=RoleCode.STAFF)

    page = browser_page
    page.goto(live_server + "/")
    page.get_by_role("link", name="English").click()
    page.goto(live_server + "/auth/login")
    page.get_by_label("Email address").fill(staff.email)
    page.get_by_label("Password").fill(make.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    browser_second_factor(page, staff.email)  # staff pass their authenticator code (A08)
    page.goto(live_server + "/staff/surveys/new")
    page.locator("#title").fill("Park survey 公園アンケート")
    opens = (utcnow() + dt.timedelta(days=1)).astimezone(answering.JST)
    page.locator("#opens_at").fill(opens.strftime("%Y-%m-%dT%H:%M"))
    page.locator("#closes_at").fill((opens + dt.timedelta(days=14)).strftime("%Y-%m-%dT%H:%M"))
    page.locator("input[name=districts][value=北町]").check()
    page.locator("#k").fill("2")
    page.get_by_role("button", name="Save").click()
    page.locator("#type").select_option("single")
    page.locator("#qtext").fill("Do you use the park?")
    page.locator("#choices").fill("Yes\nNo")
    page.get_by_role("button", name="Add", exact=True).click()
    assert page.get_by_text("Question added.").is_visible()
    key = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.get_by_role("button", name="Target the monitors (draw the sample)").click()
    assert page.get_by_text("1 monitors are targeted").is_visible()

    db.session.rollback()
    survey = db.session.execute(select(Survey).where(Survey.key == key)).scalar_one()
    survey.opens_at = utcnow() - dt.timedelta(minutes=5)  # time passes: the survey opens
    db.session.commit()
    sent = app.test_cli_runner().invoke(args=["survey", "send-requests", key])
    assert json.loads(sent.output)["queued"] == 1
    mail = next(m for m in outbox() if m.kind == "survey_request")
    path = re.search(r"/monitors/r/[\w-]+", mail.body).group(0)

    resident = browser.new_context(locale="ja-JP")
    try:
        rp = resident.new_page()
        rp.goto(live_server + path)
        assert rp.get_by_text("Do you use the park?").count() == 0  # not before the card
        rp.get_by_role("link", name="マイナンバーカードでログイン").first.click()
        rp.locator("form[action$='/auth/jpki/start'] button").click()
        code = rp.locator("strong.code").inner_text()
        answer_as_card(live_server, code, monitor_pki)
        # The waiting page notices the card's answer and continues by itself.
        expect(rp.locator("input[name=consent]")).to_be_visible(timeout=10_000)
        rp.locator("input[name=consent]").check()
        rp.locator("form[action$='/start'] button").click()
        rp.get_by_label("Yes").check()
        rp.locator("button[value=next]").click()
        old_form = {
            name: rp.locator(f"form[action$='/submit'] input[name={name}]").get_attribute("value")
            for name in ("csrf_token", "draft")
        }
        rp.locator("form[action$='/submit'] button").click()
        receipt = rp.locator(".receipt strong").inner_text()
        assert re.fullmatch(r"\w{4}-\w{4}-\w{4}", receipt)
        # The same form sent again (a retry) gets the first result, nothing more is stored…
        again = rp.request.post(live_server + f"/monitors/surveys/{key}/submit", form=old_form)
        assert again.status == 200 and receipt in again.text()
        # …and a second attempt at answering is refused.
        other = rp.request.post(
            live_server + f"/monitors/surveys/{key}/submit", form={**old_form, "draft": "x" * 43}
        )
        assert other.status == 409 and "回答済み" in other.text()
        rp.goto(live_server + f"/monitors/surveys/{key}")
        assert rp.get_by_text("回答済み").first.is_visible()
    finally:
        resident.close()

    db.session.rollback()
    assert db.session.execute(select(Survey).where(Survey.key == key)).scalar_one()
    # Two more residents of other segments answer (so results show; one group stays small)
    for district, sex in (("北町", "male"), ("北町", "female")):
        other = make.monitor(address=f"新潟県長岡市{district}3丁目", sex=sex)
        answering.submit(survey, other, {"q1": "No"})
        db.session.commit()
    page.goto(live_server + f"/staff/surveys/{key}/results")
    table = page.locator("table.crosstab-table[data-dimension=sex]")
    assert table.locator("abbr").count() >= 1  # small cells hidden, marked for screen readers
    assert page.locator("svg[role=img] desc").count() >= 1
    assert monitor.pseudonym not in page.content()
