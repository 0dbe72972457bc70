"""Site-wide pages: home, language switch, health check, error pages."""

from flask import Blueprint

bp = Blueprint("site", __name__, template_folder="templates")

from app.site import views  # noqa: E402,F401
