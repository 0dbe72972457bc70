"""Run by tests/security/test_production_build.py with PYTHONPATH set to an unpacked wheel: build
the production app from the wheel's own files for each role and print what the test checks as
JSON. Not a test module (no test_ prefix); it never imports from the source tree."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def probe(role: str) -> dict[str, object]:
    os.environ["APP_ROLE"] = role
    if role == "public":  # the public role holds no vault secret: only the public and index keys
        keys = Path(os.environ["INSTANCE_DIR"]) / "keys"
        public = keys.with_name("public-keys")
        public.mkdir(exist_ok=True)
        for name in ("vault_public.key", "index.key"):
            (public / name).write_bytes((keys / name).read_bytes())
        os.environ["APP_PRIVACY_KEYS_DIR"] = str(public)
    else:
        os.environ.pop("APP_PRIVACY_KEYS_DIR", None)
    from flask_migrate import upgrade

    from app import create_app

    app = create_app("production")
    with app.app_context():
        if role == "all":
            upgrade()  # the packaged migrations build the schema
    client = app.test_client()
    login = client.get("/auth/login", headers={"Accept-Language": "ja"})
    return {
        "rules": [[rule.rule, rule.endpoint] for rule in app.url_map.iter_rules()],
        "debug": app.debug,
        "testing": app.testing,
        "migrations": app.extensions["migrate"].directory,
        "healthz": client.get("/healthz").status_code,
        "login": [login.status_code, "ログイン" in login.get_data(as_text=True)],
    }


def main() -> None:
    import app
    from app.privacy.keys import generate_keys

    generate_keys({"INSTANCE_DIR": os.environ["INSTANCE_DIR"]})  # a new instance's vault keys
    report: dict[str, object] = {"app_file": app.__file__}
    # "all" registers every blueprint; "public" is the internet-facing server of a split setup.
    report["roles"] = {role: probe(role) for role in ("all", "public")}
    report["modules"] = sorted(sys.modules)
    migrations = Path(str(report["roles"]["all"]["migrations"]))  # type: ignore[index]
    report["versions"] = sorted(p.name for p in (migrations / "versions").glob("*.py"))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
