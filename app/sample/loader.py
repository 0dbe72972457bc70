"""`flask sample load FILE.json`: load a documented JSON file in one transaction.

Each section has a handler; handlers run in a fixed order so that later sections can refer to
keys defined earlier. A bad entry raises `SampleError` naming it, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.auth.models import RoleCode, User
from app.auth.services import AuthError, create_user


class SampleError(Exception):
    """A sample file entry is invalid; the message names the entry and the problem."""


@dataclass
class LoadContext:
    """Keys seen so far, the objects they name and the URL path printed for each."""

    objects: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, key: Any, obj: Any, path: str) -> None:
        if not isinstance(key, str) or not key:
            raise SampleError(f"{where}: 'key' must be a non-empty string")
        if key in self.objects:
            raise SampleError(f"{where}: key {key!r} is used twice")
        self.objects[key] = obj
        self.paths[key] = path

    def get(self, where: str, key: Any, kind: type) -> Any:
        obj = self.objects.get(key) if isinstance(key, str) else None
        if not isinstance(obj, kind):
            raise SampleError(f"{where}: unknown {kind.__name__.lower()} key {key!r}")
        return obj


Handler = Callable[[list[Any], LoadContext], None]

MEMBER_FIELDS = {"key", "email", "password", "display_name", "handle", "role", "locale"}
ROLE_NAMES = {
    "member": RoleCode.MEMBER,
    "moderator": RoleCode.MODERATOR,
    "staff": RoleCode.STAFF,
    "admin": RoleCode.ADMIN,
}


def _require(where: str, entry: dict[str, Any], name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise SampleError(f"{where}: '{name}' is required and must be a string")
    return value


def load_members(entries: list[Any], ctx: LoadContext) -> None:
    for i, entry in enumerate(entries):
        where = f"members[{i}]"
        if not isinstance(entry, dict):
            raise SampleError(f"{where}: must be an object")
        where = f"members[{i}] ({entry.get('key')!r})"
        unknown = set(entry) - MEMBER_FIELDS - EXTRA_MEMBER_FIELDS
        if unknown:
            raise SampleError(f"{where}: unknown field(s) {sorted(unknown)}")
        role_name = entry.get("role", "member")
        if not isinstance(role_name, str) or role_name not in ROLE_NAMES:
            raise SampleError(f"{where}: role must be one of {sorted(ROLE_NAMES)}")
        password = _require(where, entry, "password")
        if len(password) < 8:
            raise SampleError(f"{where}: password must have at least 8 characters")
        try:
            user = create_user(
                email=_require(where, entry, "email"),
                handle=_require(where, entry, "handle"),
                display_name=_require(where, entry, "display_name")[:50],
                password=password,
                role=ROLE_NAMES[role_name],
                confirmed=True,
                locale=entry.get("locale", "ja"),
            )
        except AuthError as err:
            raise SampleError(f"{where}: {err.message}") from err
        ctx.add(where, entry.get("key"), user, f"/members/{user.handle}")
        for hook in MEMBER_HOOKS:
            hook(where, entry, user, ctx)


# Later features add member fields (district, profile) and sections (friendships, diaries …).
EXTRA_MEMBER_FIELDS: set[str] = set()
MEMBER_HOOKS: list[Callable[[str, dict[str, Any], User, LoadContext], None]] = []
SECTIONS: list[tuple[str, Handler]] = [("members", load_members)]


def load_sample(data: Any) -> dict[str, str]:
    """Load `data` (parsed JSON) into the current transaction; return key → URL path."""
    if not isinstance(data, dict):
        raise SampleError("the file must hold one JSON object")
    known = {name for name, _ in SECTIONS}
    unknown = set(data) - known
    if unknown:
        raise SampleError(f"unknown section(s) {sorted(unknown)}; known: {sorted(known)}")
    ctx = LoadContext()
    for name, handler in SECTIONS:
        entries = data.get(name, [])
        if not isinstance(entries, list):
            raise SampleError(f"'{name}' must be a list")
        handler(entries, ctx)
    return ctx.paths
