"""Monitor registration on the site (APP_ROLE=all): good input files at once, bad input gets a
message beside the field and stores nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.privacy.models import Consent, InboxEnvelope, VaultRecord
from app.privacy.vault import access
from app.survey.models import Monitor

FORM = {
    "name": "長岡 花子",
    "name_kana": "ナガオカ ハナコ",
    "postal_code": "940-0062",
    "address": "みどり市北町3丁目2番1号",
    "sex": "female",
    "birth_date": "1950-06-15",
    "phone": "0258-12-3456",
    "email": "hanako@example.jp",
    "mobile_email": "",
    "consent": ["registration:city", "reader_shipping:city", "reader_shipping:vendor_shipping"],
}


def _nothing_stored() -> None:
    db.session.rollback()
    assert db.session.execute(select(func.count(InboxEnvelope.id))).scalar() == 0
    assert db.session.execute(select(func.count(Monitor.id))).scalar() == 0
    assert db.session.execute(select(func.count()).select_from(VaultRecord)).scalar() == 0
    assert db.session.execute(select(func.count(Consent.id))).scalar() == 0


def test_the_form_shows_each_purpose_in_plain_japanese(client):
    body = client.get("/monitors/register").get_data(as_text=True)
    assert "ICカードリーダーをお送りするために、氏名・郵便番号・住所を使います" in body
    assert 'value="reader_shipping:vendor_shipping"' in body
    assert "機器発送の委託業者" in body
    assert body.count("<h1") == 1


def test_a_registration_is_filed_with_consents_and_a_coarse_segment(client):
    response = client.post("/monitors/register", data=FORM)
    assert response.status_code == 302
    assert "filed=1" in response.headers["Location"]
    db.session.rollback()
    monitor = db.session.execute(select(Monitor)).scalar_one()
    assert (monitor.district, monitor.sex, monitor.age_band) == ("北町", "female", 70)
    consents = {
        (c.purpose_code, c.recipient_code, c.text_version)
        for c in db.session.execute(select(Consent)).scalars()
    }
    assert consents == {
        ("registration", "city", 1),
        ("reader_shipping", "city", 1),
        ("reader_shipping", "vendor_shipping", 1),
    }
    [view] = access(
        "reader_shipping", "test", [monitor.pseudonym], "labels", recipient="vendor_shipping"
    )
    assert view.address == "みどり市北町3丁目2番1号"
    assert access("survey_request", "test", [monitor.pseudonym], "mail") == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("postal_code", "94-00622", "123-4567"),
        ("postal_code", "abc-defg", "123-4567"),
        ("birth_date", "2999-01-01", "未来"),
        ("birth_date", "1990-02-30", "1960-04-01"),
        ("name_kana", "長岡 花子", "カタカナ"),
        ("name_kana", "Nagaoka", "カタカナ"),
        ("email", "not-an-address", "メールアドレス"),
        ("phone", "12345", "電話番号"),
        ("sex", "robot", "選んで"),
        ("name", "", "必須"),
        ("name", "長" * 51, "50"),
    ],
)
def test_bad_input_is_shown_beside_the_field_and_nothing_is_stored(client, field, value, message):
    response = client.post("/monitors/register", data={**FORM, field: value})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    error = body.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0]
    assert message in error
    assert f'aria-describedby="{field}' in body or "aria-invalid" in body
    _nothing_stored()


def test_missing_required_consent_is_refused(client):
    response = client.post("/monitors/register", data={**FORM, "consent": ["reader_shipping:city"]})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'id="consents-error"' in body
    assert "モニター登録と本人確認" in body.split('id="consents-error"', 1)[1].split("</p>", 1)[0]
    _nothing_stored()


@pytest.mark.parametrize(
    "forged",
    ["everything:city", "registration:nsa", "self:city", "segment:city", "registration", ""],
)
def test_a_forged_purpose_or_recipient_is_refused(client, forged):
    response = client.post(
        "/monitors/register", data={**FORM, "consent": ["registration:city", forged]}
    )
    assert response.status_code == 422
    assert 'id="consents-error"' in response.get_data(as_text=True)
    _nothing_stored()


def test_full_width_and_hiragana_input_is_normalised(client):
    data = {
        **FORM,
        "postal_code": "〒９４０－００６２",
        "name_kana": "ながおか　はなこ",
        "phone": "０２５８−１２−３４５６",
    }
    assert client.post("/monitors/register", data=data).status_code == 302
    db.session.rollback()
    monitor = db.session.execute(select(Monitor)).scalar_one()
    [me] = access("self", "test", [monitor.pseudonym], "check")
    assert (me.postal_code, me.name_kana, me.phone) == (
        "940-0062",
        "ナガオカ ハナコ",
        "0258-12-3456",
    )


def test_a_second_registration_with_the_same_email_is_refused(client):
    assert client.post("/monitors/register", data=FORM).status_code == 302
    response = client.post("/monitors/register", data={**FORM, "email": "HANAKO@example.jp"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "既に" in body.split('id="email-error"', 1)[1].split("</p>", 1)[0]
    db.session.rollback()
    assert db.session.execute(select(func.count(Monitor.id))).scalar() == 1


def test_district_comes_from_the_configured_postal_table(app_config, tmp_path, spawn_app):
    table = tmp_path / "districts.csv"
    table.write_text("940-00,中央\n# comment\n大手通,南町\n", encoding="utf-8")
    app_config.update(
        SURVEY_DISTRICTS_FILE=str(table), SURVEY_POSTAL_DISTRICTS={"940-0062": "西浜"}
    )
    application = spawn_app(**app_config)
    with application.app_context():
        from app.survey.districts import district_for

        assert district_for("940-0062", "どこか") == "西浜"  # the longest prefix wins
        assert district_for("940-0011", "どこか") == "中央"
        assert district_for("999-9999", "長岡市大手通2") == "南町"
        assert district_for("999-9999", "みどり市山の手1") == "山の手"
        assert district_for("999-9999", "東京都千代田区") == ""


def test_a_member_can_register_and_the_link_is_only_in_the_vault(client, user, login_as):
    login_as(user)
    assert client.post("/monitors/register", data={**FORM, "link_member": "y"}).status_code == 302
    db.session.rollback()
    monitor = db.session.execute(select(Monitor)).scalar_one()
    assert not {c.name for c in Monitor.__table__.columns} & {"user_id", "member_id"}
    [me] = access("self", "test", [monitor.pseudonym], "check")
    assert me.sns_member == str(user.id)
