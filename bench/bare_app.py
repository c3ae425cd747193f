"""The ingest baseline: a bare Flask app that answers 200 without storing, served by waitress
exactly as `hotline.server.make_server` serves hotline (same threads and limits).

    python -m bench.bare_app PORT
"""

from __future__ import annotations

import sys

from flask import Flask, request
from waitress.server import create_server

from hotline.web.server import CHANNEL_TIMEOUT, CLEANUP_INTERVAL, CONNECTION_LIMIT, MAX_HEADER_BYTES

THREADS = 16  # hotline's Settings.send_threads, which make_server gives waitress


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/callback")
    def callback() -> tuple[str, int]:
        request.get_data(cache=False)  # read the body, as hotline's door does
        return "", 200

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    port = int(sys.argv[1])
    server = create_server(
        create_app(),
        host="127.0.0.1",
        port=port,
        threads=THREADS,
        connection_limit=CONNECTION_LIMIT,
        asyncore_use_poll=True,
        channel_timeout=CHANNEL_TIMEOUT,
        cleanup_interval=CLEANUP_INTERVAL,
        max_request_header_size=MAX_HEADER_BYTES,
        max_request_body_size=2_000_000,
        ident="bare",
    )
    server.run()


if __name__ == "__main__":
    main()
