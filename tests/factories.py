"""Factories with sensible defaults. Each commits, so requests (own connections) see the data."""

from __future__ import annotations

import itertools
from typing import Any

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
        db.session.commit()
        return user

    def invitation(
        self, inviter: User | None = None, email: str = "new@example.jp", **kw: Any
    ) -> Any:
        from app.auth.services import create_invitation

        issued = create_invitation(inviter, email, **kw)
        db.session.commit()
        return issued
