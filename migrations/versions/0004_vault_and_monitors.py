"""vault and monitors

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 07:23:00.470424

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


RECIPIENTS = [
    ("city", "市（この事業の実施主体）", "The city (runs this project)"),
    ("npo", "地域SNSを運営するNPO", "The NPO that runs the regional SNS"),
    ("vendor_shipping", "機器発送の委託業者", "The contractor that ships the card readers"),
    (
        "vendor_research",
        "調査とシステム運用の委託業者",
        "The contractor that runs the surveys and the system",
    ),
]

ALL_FIELDS = [
    "name",
    "name_kana",
    "postal_code",
    "address",
    "sex",
    "birth_date",
    "phone",
    "email",
    "mobile_email",
    "certificate",
    "sns_member",
    "verified",
]

# (code, kind, required, fields, recipients, name_ja, name_en, text_ja, text_en)
PURPOSES = [
    (
        "registration",
        "consent",
        True,
        [
            "name",
            "name_kana",
            "postal_code",
            "address",
            "sex",
            "birth_date",
            "email",
            "mobile_email",
            "certificate",
            "sns_member",
            "verified",
        ],
        ["city"],
        "モニター登録と本人確認",
        "Registering as a monitor and confirming who you are",
        "モニターとして登録し、ご本人であることを確かめるために、氏名・フリガナ・郵便番号・住所・性別・"
        "生年月日・メールアドレス・携帯メールアドレス・マイナンバーカードの証明書の情報を使います。"
        "登録のあと、住所・性別・生年月日から「地区・性別・年代（10歳きざみ）」だけを求めて、"
        "アンケートの対象を選ぶのに使います。この同意がないと登録できません。",
        "To register you as a monitor and confirm who you are, we use your name, name in kana, postal "
        "code, address, sex, date of birth, email, mobile email and your My Number Card certificate. "
        "From your address, sex and date of birth we then keep only your district, sex and 10-year "
        "age band, to choose who a survey is for. You cannot register without this consent.",
    ),
    (
        "reader_shipping",
        "consent",
        False,
        ["name", "postal_code", "address"],
        ["city", "vendor_shipping"],
        "ICカードリーダーの発送",
        "Sending you an IC card reader",
        "ICカードリーダーをお送りするために、氏名・郵便番号・住所を使います。発送は委託業者が行います。",
        "To send you an IC card reader we use your name, postal code and address. A contractor "
        "does the shipping.",
    ),
    (
        "trial_contact",
        "consent",
        False,
        ["name", "email"],
        ["city", "npo"],
        "この事業についてのご連絡",
        "Contacting you about this project",
        "この事業についてご連絡するために、氏名とメールアドレスを使います。",
        "To contact you about this project we use your name and email address.",
    ),
    (
        "phone_contact",
        "consent",
        False,
        ["name", "phone"],
        ["city"],
        "メールが届かないときの電話連絡",
        "Phoning you when email does not reach you",
        "メールが届かないときにお電話でご連絡するために、氏名と電話番号を使います。",
        "To phone you when email does not reach you we use your name and phone number.",
    ),
    (
        "survey_request",
        "consent",
        False,
        ["email", "mobile_email"],
        ["city"],
        "アンケートへの回答のお願い",
        "Asking you to answer surveys",
        "アンケートへの回答をお願いするために、メールアドレスと携帯メールアドレスを使います。",
        "To ask you to answer surveys we use your email and mobile email addresses.",
    ),
    (
        "npo_invitation",
        "consent",
        False,
        ["name", "email"],
        ["npo"],
        "NPOからのアンケート依頼と地域SNSへのお誘い",
        "Survey requests from the NPO and an invitation to the regional SNS",
        "NPOがアンケートをお願いしたり、地域SNSにお誘いしたりするために、氏名とメールアドレスを使います。",
        "For the NPO to ask you to answer its surveys and to invite you to the regional SNS, we "
        "use your name and email address.",
    ),
    (
        "segment_survey",
        "consent",
        False,
        ["address", "sex", "birth_date"],
        ["city"],
        "地区・性別・年代をしぼったアンケート",
        "Surveys for a district, sex or age group",
        "地区・性別・年代をしぼってアンケートをお願いするために、住所・性別・生年月日を使います。",
        "To ask a particular district, sex or age group to answer a survey, we use your address, "
        "sex and date of birth.",
    ),
    (
        "trial_interview",
        "consent",
        False,
        ["email"],
        ["city", "npo", "vendor_research"],
        "この事業そのものについてのアンケート・インタビュー",
        "Surveys and interviews about this project itself",
        "この事業そのものについてアンケートやインタビューをお願いするために、メールアドレスを使います。",
        "To ask you for a survey or an interview about this project itself, we use your email address.",
    ),
    (
        "self",
        "subject",
        False,
        ALL_FIELDS,
        [],
        "ご本人による確認",
        "You looking at your own record",
        "ご本人が、登録した内容を画面で確かめるために使います。",
        "So that you can see what you registered.",
    ),
    (
        "segment",
        "system",
        False,
        ["postal_code", "address", "sex", "birth_date"],
        [],
        "地区・性別・年代の算出",
        "Working out district, sex and age band",
        "住所・性別・生年月日から地区・性別・年代（10歳きざみ）を求めます。結果だけを保存します。",
        "Works out the district, sex and 10-year age band; only the result is kept.",
    ),
]


def _seed_purposes():
    import datetime as dt
    import json

    now = dt.datetime.now(dt.UTC)
    recipients = sa.table(
        "privacy_recipients",
        sa.column("id", sa.Integer),
        sa.column("code", sa.String),
        sa.column("name_ja", sa.String),
        sa.column("name_en", sa.String),
    )
    op.bulk_insert(
        recipients,
        [
            {"id": n, "code": code, "name_ja": ja, "name_en": en}
            for n, (code, ja, en) in enumerate(RECIPIENTS, start=1)
        ],
    )
    purposes = sa.table(
        "privacy_purposes",
        sa.column("id", sa.Integer),
        sa.column("code", sa.String),
        sa.column("kind", sa.String),
        sa.column("required", sa.Boolean),
        sa.column("active", sa.Boolean),
        sa.column("position", sa.Integer),
        sa.column("name_ja", sa.String),
        sa.column("name_en", sa.String),
        sa.column("text_ja", sa.Text),
        sa.column("text_en", sa.Text),
        sa.column("fields_json", sa.Text),
        sa.column("version", sa.Integer),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    rows = []
    links = []
    recipient_ids = {code: n for n, (code, _ja, _en) in enumerate(RECIPIENTS, start=1)}
    for n, (code, kind, required, fields, to, name_ja, name_en, text_ja, text_en) in enumerate(
        PURPOSES, start=1
    ):
        rows.append(
            {
                "id": n,
                "code": code,
                "kind": kind,
                "required": required,
                "active": True,
                "position": n * 10,
                "name_ja": name_ja,
                "name_en": name_en,
                "text_ja": text_ja,
                "text_en": text_en,
                "fields_json": json.dumps(fields),
                "version": 1,
                "updated_at": now,
            }
        )
        links.extend({"purpose_id": n, "recipient_id": recipient_ids[r]} for r in to)
    op.bulk_insert(purposes, rows)
    link_table = sa.table(
        "privacy_purpose_recipients",
        sa.column("purpose_id", sa.Integer),
        sa.column("recipient_id", sa.Integer),
    )
    op.bulk_insert(link_table, links)
    if op.get_bind().dialect.name == "postgresql":
        for table in ("privacy_recipients", "privacy_purposes"):
            op.execute(  # table names from the literal tuple above
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT MAX(id) FROM {table}))"
            )


def upgrade_():
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "privacy_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=20), nullable=False),
        sa.Column("purpose_code", sa.String(length=40), nullable=False),
        sa.Column("recipient_code", sa.String(length=40), nullable=False),
        sa.Column("text_version", sa.Integer(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_consents")),
        sa.UniqueConstraint(
            "subject",
            "purpose_code",
            "recipient_code",
            name=op.f("uq_privacy_consents_subject_purpose_code_recipient_code"),
        ),
    )
    with op.batch_alter_table("privacy_consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_consents_subject"), ["subject"], unique=False)

    op.create_table(
        "privacy_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("envelope_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("project_code", sa.String(length=40), nullable=False),
        sa.Column("recipient_key_id", sa.String(length=16), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_inbox")),
        sa.UniqueConstraint("envelope_id", name=op.f("uq_privacy_inbox_envelope_id")),
    )
    with op.batch_alter_table("privacy_inbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_inbox_project_code"), ["project_code"], unique=False
        )
        batch_op.create_index("ix_privacy_inbox_status_id", ["status", "id"], unique=False)

    op.create_table(
        "privacy_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purge_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_projects")),
        sa.UniqueConstraint("code", name=op.f("uq_privacy_projects_code")),
    )
    op.create_table(
        "privacy_purposes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name_ja", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("text_ja", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("fields_json", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_purposes")),
        sa.UniqueConstraint("code", name=op.f("uq_privacy_purposes_code")),
        info={"reference_data": True},
    )
    op.create_table(
        "privacy_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_ja", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_recipients")),
        sa.UniqueConstraint("code", name=op.f("uq_privacy_recipients_code")),
        info={"reference_data": True},
    )
    op.create_table(
        "survey_monitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=20), nullable=False),
        sa.Column("project_code", sa.String(length=40), nullable=False),
        sa.Column("district", sa.String(length=40), nullable=False),
        sa.Column("sex", sa.String(length=10), nullable=False),
        sa.Column("age_band", sa.Integer(), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("segment_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_monitors")),
        sa.UniqueConstraint("pseudonym", name=op.f("uq_survey_monitors_pseudonym")),
    )
    with op.batch_alter_table("survey_monitors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_survey_monitors_project_code"), ["project_code"], unique=False
        )

    op.create_table(
        "privacy_purpose_recipients",
        sa.Column("purpose_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["purpose_id"],
            ["privacy_purposes.id"],
            name=op.f("fk_privacy_purpose_recipients_purpose_id_privacy_purposes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["privacy_recipients.id"],
            name=op.f("fk_privacy_purpose_recipients_recipient_id_privacy_recipients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "purpose_id", "recipient_id", name=op.f("pk_privacy_purpose_recipients")
        ),
        info={"reference_data": True},
    )
    op.create_table(
        "survey_monitor_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("cert_index", sa.String(length=64), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["survey_monitors.id"],
            name=op.f("fk_survey_monitor_certificates_monitor_id_survey_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_monitor_certificates")),
        sa.UniqueConstraint("cert_index", name=op.f("uq_survey_monitor_certificates_cert_index")),
    )
    with op.batch_alter_table("survey_monitor_certificates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_survey_monitor_certificates_monitor_id"), ["monitor_id"], unique=False
        )

    # ### end Alembic commands ###
    _seed_purposes()


def downgrade_():
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("survey_monitor_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_monitor_certificates_monitor_id"))

    op.drop_table("survey_monitor_certificates")
    op.drop_table("privacy_purpose_recipients")
    with op.batch_alter_table("survey_monitors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_monitors_project_code"))

    op.drop_table("survey_monitors")
    op.drop_table("privacy_recipients")
    op.drop_table("privacy_purposes")
    op.drop_table("privacy_projects")
    with op.batch_alter_table("privacy_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_inbox_status_id")
        batch_op.drop_index(batch_op.f("ix_privacy_inbox_project_code"))

    op.drop_table("privacy_inbox")
    with op.batch_alter_table("privacy_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_consents_subject"))

    op.drop_table("privacy_consents")
    # ### end Alembic commands ###


def upgrade_pii():
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "vault_audit",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("project", sa.String(length=40), nullable=False),
        sa.Column("subjects_json", sa.Text(), nullable=False),
        sa.Column("fields_json", sa.Text(), nullable=False),
        sa.Column("recipient", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("prev_mac", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_vault_audit")),
    )
    with op.batch_alter_table("vault_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vault_audit_action"), ["action"], unique=False)

    op.create_table(
        "vault_data_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_code", sa.String(length=40), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("master_key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rewrapped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_data_keys")),
    )
    with op.batch_alter_table("vault_data_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vault_data_keys_project_code"), ["project_code"], unique=False
        )

    op.create_table(
        "vault_records",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=20), nullable=False),
        sa.Column("project_code", sa.String(length=40), nullable=False),
        sa.Column("data_key_id", sa.Integer(), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=True),
        sa.Column("identity_index", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["data_key_id"],
            ["vault_data_keys.id"],
            name=op.f("fk_vault_records_data_key_id_vault_data_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_records")),
        sa.UniqueConstraint(
            "project_code", "email_index", name=op.f("uq_vault_records_project_code_email_index")
        ),
        sa.UniqueConstraint("subject", name=op.f("uq_vault_records_subject")),
    )
    with op.batch_alter_table("vault_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vault_records_identity_index"), ["identity_index"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_vault_records_project_code"), ["project_code"], unique=False
        )

    op.create_table(
        "vault_values",
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["vault_records.id"],
            name=op.f("fk_vault_values_record_id_vault_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", "field", name=op.f("pk_vault_values")),
    )
    # ### end Alembic commands ###


def downgrade_pii():
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_table("vault_values")
    with op.batch_alter_table("vault_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vault_records_project_code"))
        batch_op.drop_index(batch_op.f("ix_vault_records_identity_index"))

    op.drop_table("vault_records")
    with op.batch_alter_table("vault_data_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vault_data_keys_project_code"))

    op.drop_table("vault_data_keys")
    with op.batch_alter_table("vault_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vault_audit_action"))

    op.drop_table("vault_audit")
    # ### end Alembic commands ###
