"""The Flask app for one running hotline: the factory that puts the web layer together.

    callback.py    POST /callback, the door LINE WORKS delivers events to (thin: verify, store, 200)
    api.py         /api/... (bearer token or a dashboard session) and /healthz
    metrics.py     /metrics for Prometheus (protected like /api)
    auth/          login, session, CSRF, roles: the guard every page blueprint is put behind
    pages/         the dashboard's pages: incidents, HQ instructions, drills, accounts and audit log,
                   configuration; and /m/<token>, the page a fallback mail's signed link opens (no login)
    context.py     the running hotline of this request (`current_hotline()`)

The app's root is this folder, so it finds templates/ and static/ here.
"""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from hotline.runtime.service import Hotline
from hotline.web import auth, context, errors
from hotline.web.api import api
from hotline.web.callback import door
from hotline.web.metrics import metrics
from hotline.web.pages.admin import admin
from hotline.web.pages.config import config_pages
from hotline.web.pages.dashboard import dashboard
from hotline.web.pages.drills import drills
from hotline.web.pages.instructions import instructions
from hotline.web.pages.jma_settings import jma_settings
from hotline.web.pages.mail_links import mail_links_page
from hotline.web.pages.telegrams import telegrams


def _every_response(response: Response) -> Response:
    """On every answer (the door, /api, /healthz, pages, static files, errors): no content
    sniffing, and nothing kept by a browser or a shared cache (incident records, tokens)."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def create_app(hotline: Hotline) -> Flask:
    """The Flask app for one running hotline."""
    app = Flask(__name__)
    hops = hotline.settings.trusted_proxies
    if hops:
        # Behind `hops` reverse proxies (HOTLINE_TRUSTED_PROXIES): the client address (login
        # throttle, audit log) and the scheme (the cookie's Secure flag, CSRF's Referer check)
        # come from X-Forwarded-For / -Proto, as many hops from the right as there are proxies.
        # Host and prefix are not taken: the proxy passes Host itself (docs/DEPLOY.md).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.config["MAX_CONTENT_LENGTH"] = hotline.settings.max_body_bytes  # larger bodies: 413
    app.extensions["hotline"] = hotline
    auth.init_app(app, hotline.settings.secret_key)  # the session cookie and the CSRF check
    app.context_processor(context.template_globals)
    app.register_blueprint(door)
    app.register_blueprint(api)
    app.register_blueprint(metrics)  # /metrics, protected like /api
    app.register_blueprint(dashboard)
    app.register_blueprint(drills)
    app.register_blueprint(admin)
    app.register_blueprint(config_pages)
    app.register_blueprint(jma_settings)  # the JMA triggers of the configuration
    app.register_blueprint(telegrams)  # the JMA telegrams page
    app.register_blueprint(instructions)  # HQ instructions and requests to the towns
    app.register_blueprint(mail_links_page)  # /m/<token>: a fallback mail's link, no login
    errors.init_app(app)  # Japanese error pages (JSON for machines) and /favicon.ico
    app.after_request(_every_response)
    return app
