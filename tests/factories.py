"""Factories with sensible defaults. Each commits, so requests (own connections) see the data."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from app.auth.models import RoleCode, User
from app.extensions import db

_counter = itertools.count(1)


class Factories:
    PASSWORD = "correct horse battery staple"

    def user(
        self,
        *,
        handle: str | None = None,
        email: str | None = None,
        display_name: str = "住民 太郎",
        password: str | None = None,
        role: RoleCode = RoleCode.MEMBER,
        confirmed: bool = True,
        locale: str = "ja",
    ) -> User:
        from app.auth.services import create_user

        n = next(_counter)
        handle = handle or f"user{n}"
        user = create_user(
            email=email or f"{handle}@example.jp",
            handle=handle,
            display_name=display_name,
            password=password or self.PASSWORD,
            role=role,
            confirmed=confirmed,
            locale=locale,
        )
        if role != RoleCode.MEMBER:
            # Privileged accounts need a second factor (A08): give them an authenticator.
            from tests.second_factor_support import enrol_totp

            db.session.flush()  # the account id seals the seed
            enrol_totp(user)
        db.session.commit()
        return user

    def invitation(
        self, inviter: User | None = None, email: str = "new@example.jp", **kw: Any
    ) -> Any:
        from app.auth.services import create_invitation

        issued = create_invitation(inviter, email, **kw)
        db.session.commit()
        return issued

    # --- SNS ---------------------------------------------------------------------------------

    def friends(self, a: User, b: User) -> None:
        """Make `a` and `b` friends (both directions)."""
        from app.sns.services import _make_friends

        _make_friends(a.id, b.id)
        db.session.commit()

    def block(self, blocker: User, blocked: User) -> None:
        from app.sns.services import block_member

        block_member(blocker, blocked)
        db.session.commit()

    def diary(
        self,
        author: User,
        *,
        title: str = "今日の出来事",
        body: str = "公園の桜がきれいでした。",
        visibility: str = "friends",
        **kw: Any,
    ) -> Any:
        from app.sns.services import create_diary

        entry = create_diary(author, title=title, body=body, visibility=visibility, **kw)
        db.session.commit()
        return entry

    def comment(self, diary: Any, author: User, body: str = "いいですね！") -> Any:
        from app.sns.services import add_comment

        comment = add_comment(diary, author, body)
        db.session.commit()
        return comment

    def profile_value(self, user: User, key: str, value: str, visibility: str = "members") -> None:
        from app.sns.services import field_by_key, set_profile_value

        fd = field_by_key(key)
        assert fd is not None
        set_profile_value(user, fd, value, visibility)
        db.session.commit()

    def message(
        self, sender: User, recipient: User, body: str = "こんにちは", subject: str = ""
    ) -> Any:
        from app.sns.services import send_message

        msg = send_message(sender, recipient, subject, body)
        db.session.commit()
        return msg

    # --- survey monitors (personal data filed in the vault) ------------------------------------

    MONITOR: ClassVar[dict[str, Any]] = {
        "name": "長岡 花子",
        "name_kana": "ナガオカ ハナコ",
        "postal_code": "940-0062",
        "address": "新潟県長岡市大手通1丁目",
        "sex": "female",
        "birth_date": "1990-01-02",
        "phone": "0258-00-0000",
        "mobile_email": "",
    }

    def monitor(
        self,
        *,
        consents: Any = "all",
        certificate: Any = None,
        member_id: int | None = None,
        project: str = "default",
        **fields: Any,
    ) -> Any:
        """A monitor filed through the registration service; fields override MONITOR."""
        from app.survey import services
        from app.survey.validation import validate_fields

        n = next(_counter)
        raw = {**self.MONITOR, "email": f"monitor{n}@example.jp", **fields}
        payload = services.registration_payload(
            validate_fields(raw),
            services.expand_consents(consents),
            project=project,
            certificate=certificate,
            member_id=member_id,
        )
        monitor = services.file_registration(payload, actor="test")
        db.session.commit()
        return monitor
