"""Monitor self-service, JPKI certificate binding and renewal, staff screens, CSV export and
`flask sample load`."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from app.auth.jpki.signature import sign_raw_sha256
from app.auth.models import RoleCode
from app.extensions import db
from app.privacy.models import AuditEntry, Consent, VaultRecord
from app.privacy.vault import access
from app.survey import services
from app.survey.models import Monitor, MonitorCertificate


def _key(pki, card, kind):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(Path(pki.card_dir(card), f"{kind}.key.pem").read_bytes(), None)


def _proof(pki, card, kind, content):
    der = Path(pki.card_dir(card), "sign.der").read_bytes()
    signature = sign_raw_sha256(_key(pki, card, "sign"), services.signing_message(kind, content))
    return {
        "certificate": base64.b64encode(der).decode(),
        "signature": base64.b64encode(signature).decode(),
    }


def _auth(pki, card):
    return services.certificate_identity(Path(pki.card_dir(card), "auth.der").read_bytes())


# --- self-service ---------------------------------------------------------------------------------


def test_self_service_needs_a_card_login(client):
    assert client.get("/monitors/me").status_code == 302
    assert client.post("/monitors/me/leave", data={"confirm": "y"}).status_code == 302


def test_a_monitor_sees_their_data_and_the_audit_entries_about_them(make, monitor_login):
    monitor = make.monitor(name="自分 見子")
    other = make.monitor(name="他人 見男")
    body = monitor_login(monitor).get("/monitors/me").get_data(as_text=True)
    assert "自分 見子" in body and "他人 見男" not in body
    assert monitor.pseudonym in body
    assert "record.create" in body
    db.session.rollback()
    entry = db.session.execute(
        select(AuditEntry).where(AuditEntry.actor == f"monitor:{monitor.pseudonym}")
    ).scalar_one()
    assert (entry.purpose, entry.subjects) == ("self", [monitor.pseudonym])
    assert other.pseudonym not in entry.subjects_json


def test_a_monitor_corrects_their_data(make, monitor_login):
    monitor = make.monitor()
    client = monitor_login(monitor)
    response = client.post(
        "/monitors/me/correct", data={"address": "みどり市西浜1丁目", "phone": ""}
    )
    assert response.status_code == 302
    db.session.rollback()
    [me] = access("self", "test", [monitor.pseudonym], "check")
    assert me.address == "みどり市西浜1丁目" and me.phone == "0258-00-0000"
    assert db.session.get(Monitor, monitor.id).district == "西浜"
    bad = client.post("/monitors/me/correct", data={"postal_code": "12-345"})
    assert bad.status_code == 422
    assert "123-4567" in bad.get_data(as_text=True).split('id="postal_code-error"', 1)[1]


def test_a_monitor_withdraws_and_gives_consent(make, monitor_login):
    monitor = make.monitor()
    client = monitor_login(monitor)
    assert client.post("/monitors/me/consents/trial_contact/withdraw").status_code == 302
    db.session.rollback()
    assert access("trial_contact", "test", [monitor.pseudonym], "check") == []
    assert client.post("/monitors/me/consents/registration/withdraw").status_code == 404
    assert client.post("/monitors/me/consents/forged/grant").status_code == 404
    assert client.post("/monitors/me/consents/trial_contact/grant").status_code == 302
    db.session.rollback()
    assert len(access("trial_contact", "test", [monitor.pseudonym], "check")) == 1


def test_leaving_the_panel_deletes_the_vault_record(make, monitor_login):
    monitor = make.monitor()
    client = monitor_login(monitor)
    assert client.post("/monitors/me/leave", data={}).status_code == 422
    assert client.post("/monitors/me/leave", data={"confirm": "y"}).status_code == 200
    db.session.rollback()
    assert (
        db.session.execute(
            select(VaultRecord).where(VaultRecord.subject == monitor.pseudonym)
        ).first()
        is None
    )
    assert (
        db.session.execute(select(Consent).where(Consent.subject == monitor.pseudonym)).first()
        is None
    )
    left = db.session.get(Monitor, monitor.id)
    assert (left.status, left.district, left.age_band) == ("left", "", None)
    assert client.get("/monitors/me").status_code == 302


# --- certificates -----------------------------------------------------------------------------


def test_registration_binds_the_card_and_the_card_finds_the_monitor(
    jpki_config, app, make, monitor_pki
):
    cert = _auth(monitor_pki, "taro")
    monitor = make.monitor(certificate=cert)
    found = services.monitor_for_certificate(cert.anchor, cert.serial, cert.spki_sha256)
    assert found.id == monitor.id
    row = db.session.execute(select(MonitorCertificate)).scalar_one()
    assert cert.serial not in row.cert_index and len(row.cert_index) == 64
    with pytest.raises(services.SurveyError) as err:
        make.monitor(certificate=cert)
    assert err.value.code == "certificate_bound"
    db.session.rollback()
    [view] = access("self", "test", [monitor.pseudonym], "check")
    assert json.loads(view.certificate)["serial"] == cert.serial


def test_verified_registration_takes_the_facts_from_the_signing_certificate(
    jpki_config, app, make, monitor_pki
):
    data = services.validate_fields(
        {**make.MONITOR, "name": "偽名 太郎", "email": "taro@example.jp"}
    )
    proof = _proof(
        monitor_pki, "taro", "registration", {"email": "taro@example.jp", "project": "default"}
    )
    payload = services.registration_payload(
        data, services.expand_consents("all"), signing_proof=proof
    )
    monitor = services.file_registration(payload, actor="test")
    db.session.commit()
    [me] = access("self", "test", [monitor.pseudonym], "check")
    assert me.name == "山田　太郎" and me.birth_date == "1975-04-05" and me.sex == "male"
    assert monitor.verified and me.verified == "name,address,sex,birth_date"
    forged = {**proof, "signature": base64.b64encode(b"\x00" * 256).decode()}
    with pytest.raises(services.SurveyError):
        services.file_registration(
            {
                **payload,
                "signing_proof": forged,
                "fields": {**payload["fields"], "email": "x@example.jp"},
            },
            actor="t",
        )


def test_certificate_renewal_rebinds_with_a_matching_signing_proof(
    jpki_config, app, make, monitor_pki
):
    old = _auth(monitor_pki, "taro")
    data = services.validate_fields({**make.MONITOR, "email": "taro@example.jp"})
    proof = _proof(
        monitor_pki, "taro", "registration", {"email": "taro@example.jp", "project": "default"}
    )
    monitor = services.file_registration(
        services.registration_payload(
            data, services.expand_consents("all"), certificate=old, signing_proof=proof
        ),
        actor="test",
    )
    db.session.commit()
    new = _auth(monitor_pki, "moved")  # stands in for the renewed card's certificate
    renewal = _proof(monitor_pki, "taro", "rebind", {"certificate": new.as_json()})
    assert services.rebind_with_signing_proof(new, renewal, actor="test").id == monitor.id
    db.session.commit()
    assert (
        services.monitor_for_certificate(new.anchor, new.serial, new.spki_sha256).id == monitor.id
    )
    assert services.monitor_for_certificate(old.anchor, old.serial, old.spki_sha256) is None
    # a valid signing certificate of someone else (never registered) matches no monitor
    other = _proof(monitor_pki, "renewed", "rebind", {"certificate": old.as_json()})
    with pytest.raises(services.SurveyError) as err:
        services.rebind_with_signing_proof(old, other, actor="test")
    assert err.value.code == "no_verified_match"


# --- staff screens ----------------------------------------------------------------------------


@pytest.fixture
def staff(make):
    return make.user(handle="city_staff", role=RoleCode.STAFF)


def test_staff_screens_are_hidden_from_members_and_guests(client, user, login_as, make):
    monitor = make.monitor()
    for path in (
        "/staff/monitors/",
        f"/staff/monitors/{monitor.pseudonym}",
        "/staff/monitors/export",
        "/staff/privacy/audit",
    ):
        assert client.get(path).status_code in (302, 404)
    login_as(user)
    for path in (
        "/staff/monitors/",
        f"/staff/monitors/{monitor.pseudonym}",
        "/staff/privacy/audit",
    ):
        assert client.get(path).status_code == 404


def test_the_list_shows_pseudonyms_and_segments_only(client, staff, login_as, make):
    monitor = make.monitor(name="一覧 非表示", address="みどり市南町1丁目")
    login_as(staff)
    body = client.get("/staff/monitors/?district=南町").get_data(as_text=True)
    assert monitor.pseudonym in body and "南町" in body
    assert "一覧 非表示" not in body and "monitor" not in body.split(monitor.pseudonym)[0][-5:]


def test_opening_a_record_shows_only_the_purposes_fields(client, staff, login_as, make):
    monitor = make.monitor(name="開封 花子", email="open@example.jp")
    login_as(staff)
    body = client.post(
        f"/staff/monitors/{monitor.pseudonym}",
        data={"purpose": "reader_shipping", "reason": "発送"},
    ).get_data(as_text=True)
    assert "開封 花子" in body and "open@example.jp" not in body and "1990-01-02" not in body
    forged = client.post(
        f"/staff/monitors/{monitor.pseudonym}", data={"purpose": "self", "reason": "x"}
    )
    assert forged.status_code == 422 and "開封 花子" not in forged.get_data(as_text=True)
    db.session.rollback()
    entry = db.session.execute(
        select(AuditEntry).where(AuditEntry.actor == f"user:{staff.id}")
    ).scalar_one()
    assert (entry.purpose, entry.reason, entry.recipient) == ("reader_shipping", "発送", "city")


def test_csv_export_has_a_bom_and_only_consenting_monitors_and_fields(
    client, staff, login_as, make
):
    yes = make.monitor(name="出力 一郎", address="=HYPERLINK(1)")
    city_only = make.monitor(
        name="市だけ 二郎", consents=["registration", ["reader_shipping", "city"]]
    )
    nobody = make.monitor(name="不同意 三郎", consents=["registration"])
    login_as(staff)
    response = client.post(
        "/staff/monitors/export",
        data={"purpose": "reader_shipping", "recipient": "vendor_shipping", "reason": "発送ラベル"},
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["モニター番号", "氏名", "郵便番号", "住所"]
    assert [r[0] for r in rows[1:]] == [yes.pseudonym]
    assert rows[1][3] == "'=HYPERLINK(1)"
    assert city_only.pseudonym not in raw.decode() and nobody.pseudonym not in raw.decode()
    wrong = client.post(
        "/staff/monitors/export",
        data={"purpose": "npo_invitation", "recipient": "vendor_shipping", "reason": "x"},
    )
    assert wrong.status_code == 422
    db.session.rollback()
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "export")).scalar_one()
    assert (entry.recipient, entry.subjects) == ("vendor_shipping", [yes.pseudonym])


def test_purge_screen_needs_the_typed_project_code(client, admin, login_as, make):
    make.monitor(project="p2026")
    login_as(admin)
    assert (
        client.post("/staff/privacy/projects/p2026/purge", data={"confirm": "p2025"}).status_code
        == 422
    )
    db.session.rollback()
    assert db.session.execute(select(VaultRecord)).first()
    assert (
        client.post("/staff/privacy/projects/p2026/purge", data={"confirm": "p2026"}).status_code
        == 302
    )
    db.session.rollback()
    assert db.session.execute(select(VaultRecord)).first() is None


# --- sample data ------------------------------------------------------------------------------


def test_sample_load_files_monitors_and_prints_their_pseudonyms(
    jpki_config, app, monitor_pki, tmp_path
):
    data = {
        "members": [
            {
                "key": "alice",
                "email": "alice@example.jp",
                "password": "correct horse battery",
                "display_name": "長岡 花子",
                "handle": "alice",
            }
        ],
        "monitors": [
            {
                "key": "mon1",
                "project": "default",
                "member": "alice",
                "name": "長岡 花子",
                "name_kana": "ナガオカ ハナコ",
                "postal_code": "940-0062",
                "address": "新潟県長岡市大手通1",
                "sex": "female",
                "birth_date": "1990-01-02",
                "phone": "0258-00-0000",
                "email": "hanako@example.jp",
                "mobile_email": "hanako@mobile.example",
                "consents": "all",
                "certificate": str(Path(monitor_pki.card_dir("taro"), "auth.der")),
            },
            {
                "key": "mon2",
                "name": "千代田 太郎",
                "name_kana": "チヨダ タロウ",
                "postal_code": "1000001",
                "address": "東京都千代田区",
                "sex": "male",
                "birth_date": "1960-05-05",
                "email": "taro@example.jp",
                "consents": ["registration", "survey_request"],
            },
        ],
    }
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["sample", "load", str(path)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output.strip().splitlines()[-1])
    db.session.rollback()
    monitors = {m.pseudonym: m for m in db.session.execute(select(Monitor)).scalars()}
    assert set(monitors) == {printed["mon1"], printed["mon2"]}
    [me] = access("self", "test", [printed["mon1"]], "check")
    assert me.sns_member is not None and me.mobile_email == "hanako@mobile.example"
    assert access("trial_contact", "test", [printed["mon2"]], "check") == []
    assert monitors[printed["mon1"]].certificates


def test_sample_load_rejects_bad_monitors_and_stores_nothing(app, tmp_path):
    entry = {
        "key": "bad",
        "name": "名",
        "name_kana": "漢字",
        "postal_code": "1",
        "address": "x",
        "sex": "robot",
        "birth_date": "2999-01-01",
        "email": "e@example.jp",
        "consents": "all",
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"monitors": [entry]}, ensure_ascii=False), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["sample", "load", str(path)])
    assert result.exit_code == 1
    assert (
        "postal_code" in result.output and "name_kana" in result.output and "sex" in result.output
    )
    db.session.rollback()
    assert db.session.execute(select(Monitor)).first() is None


def test_the_demo_builds_a_panel_once(app):
    result = app.test_cli_runner().invoke(args=["sample", "demo"])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    monitors = db.session.execute(select(Monitor)).scalars().all()
    assert len(monitors) == 200
    assert {m.district for m in monitors} == set(app.config["DISTRICTS"])
    linked = [
        v
        for v in access("self", "test", [m.pseudonym for m in monitors], "demo check")
        if v.sns_member
    ]
    assert 5 <= len(linked) <= 20
    db.session.commit()
    app.test_cli_runner().invoke(args=["sample", "demo"])
    db.session.rollback()
    assert len(db.session.execute(select(Monitor)).scalars().all()) == 200
