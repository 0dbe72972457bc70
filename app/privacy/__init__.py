"""The personal-data vault: encryption, purposes, audited access, sealed envelopes, retention.

The blueprint (staff screens: audit log, projects and purge) is served by the internal role
only; `register(app)` loads the keys for every role and refuses unsafe key placements.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("privacy", __name__, template_folder="templates", url_prefix="/staff/privacy")

from app.privacy import views  # noqa: E402,F401  (routes register on import)


def register(app: Flask) -> None:
    """Load the keys for APP_ROLE (ConfigError when missing or misplaced) and add the CLI."""
    from app import ConfigError
    from app.privacy import keys
    from app.privacy.cli import privacy_cli

    try:
        keys.init_app(app)
    except keys.KeyConfigError as err:
        raise ConfigError(str(err)) from err
    loaded = keys.current_keys_for(app)
    if app.config["APP_ROLE"] == "public" and loaded.vault_public is None:
        app.logger.warning(
            "no vault public key (PRIVACY_VAULT_PUBLIC_KEY): monitor registration is off"
        )
    if "privacy" not in app.cli.commands:
        app.cli.add_command(privacy_cli)
