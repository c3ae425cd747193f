"""`GET /metrics`: the running hotline's numbers in Prometheus text format, for monitoring.

Protected like `/api/`: the bearer token (HOTLINE_API_TOKEN) or a dashboard session of any
role, because the counts tell an outsider when a disaster is being handled. The numbers live
in hotline/metrics.py (one registry per running hotline); this module only exposes them.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from prometheus_client.exposition import choose_encoder

from hotline.web.api import require_token
from hotline.web.context import current_hotline

metrics = Blueprint("metrics", __name__)
metrics.before_request(require_token)


@metrics.get("/metrics")
def scrape() -> Response:
    """Every counter, and the queues as the database holds them now: Prometheus' text format
    0.0.4, or OpenMetrics when the scraper asks for it (as prometheus_client's own server does)."""
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = Response(encode(current_hotline().metrics.registry), content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
