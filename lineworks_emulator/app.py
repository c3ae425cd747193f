"""Flask application factory of the LINE WORKS emulator (demos/tests only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response

from .api import create_api_blueprint, error
from .control import create_control_blueprint
from .mailpage import create_mail_blueprint

if TYPE_CHECKING:
    from . import Emulator


def create_app(emu: Emulator) -> Flask:
    """Build the Flask app serving the API, the control API, the talk and mailbox pages."""
    app = Flask(__name__)
    app.config["JSON_AS_ASCII"] = False
    app.config["MAX_CONTENT_LENGTH"] = 32 * 1024 * 1024
    app.extensions["hotline_emulator"] = emu
    app.register_blueprint(create_api_blueprint(emu))
    app.register_blueprint(create_control_blueprint(emu))
    app.register_blueprint(create_mail_blueprint(emu))

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> Response:
        return error(404, "NOT_FOUND", "no such API")

    @app.errorhandler(405)
    def bad_method(_exc: Exception) -> Response:
        return error(405, "METHOD_NOT_ALLOWED", "method not allowed")

    @app.errorhandler(413)
    def too_large(_exc: Exception) -> Response:
        return error(413, "LIMIT_EXCEEDED", "request too large")

    @app.errorhandler(500)
    def internal(_exc: Exception) -> Response:
        return error(500, "INTERNAL_SERVER_ERROR", "emulator error")

    return app
