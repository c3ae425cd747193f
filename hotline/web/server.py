"""Running hotline for real: waitress (a production WSGI server) plus the worker threads."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from waitress.server import BaseWSGIServer, MultiSocketServer, create_server

from hotline import config as config_module
from hotline.config import settings as settings_module
from hotline.runtime import replication
from hotline.runtime.service import Hotline
from hotline.web.app import create_app

log = logging.getLogger(__name__)


def make_server(hotline: Hotline, host: str, port: int) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server bound now (port 0 picks a free one); call `.run()` to serve."""
    app = create_app(hotline)
    server: BaseWSGIServer | MultiSocketServer = create_server(
        app,
        host=host,
        port=port,
        threads=hotline.settings.server_threads,
        # The door answers fast; a slow or hostile client must not hold a thread long.
        channel_timeout=30,
        max_request_body_size=hotline.settings.max_body_bytes * 2,
        ident="hotline",
    )
    return server


def serve_production(config_dir: Path | None = None) -> None:
    """Start with credentials from the environment. Refuses to start on a broken config.
    The LINE WORKS emulator is never started here."""
    settings = settings_module.from_env()
    if config_dir is not None and str(config_dir) != ".":
        settings = settings_module.Settings(**{**settings.__dict__, "config_dir": config_dir})
    config = config_module.load(settings.config_dir)
    replication.supervise(settings)  # with HOTLINE_REPLICA_URL: runs on as Litestream's child
    hotline = Hotline(settings, config)
    hotline.start()
    server = make_server(hotline, settings.host, settings.port)
    log.info("hotline listening on http://%s:%s (pid %d)", settings.host, settings.port, os.getpid())
    try:
        server.run()
    finally:
        hotline.stop()
