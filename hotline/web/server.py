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


# waitress' limits (docs/DEPLOY.md). Requests are read by one asyncore loop and only a complete
# request takes one of the `server_threads`, so slow clients cost a socket each, not a thread;
# what they can exhaust is the connection limit. The nginx of docs/DEPLOY.md sits in front and
# times out slow headers and bodies itself (tests/test_deploy.py); these keep hotline standing
# when it is reached directly.
CONNECTION_LIMIT = 500  # open connections before waitress stops accepting (its default: 100)
CHANNEL_TIMEOUT = 30  # seconds a connection may stay silent (the door answers in milliseconds)
CLEANUP_INTERVAL = 5  # how often silent connections are looked for (its default: 30 s)
MAX_HEADER_BYTES = 65_536  # request line and headers (its default: 256 KiB; nginx sends <= 32 KiB)


def make_server(hotline: Hotline, host: str, port: int) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server bound now (port 0 picks a free one); call `.run()` to serve."""
    app = create_app(hotline)
    server: BaseWSGIServer | MultiSocketServer = create_server(
        app,
        host=host,
        port=port,
        threads=hotline.settings.server_threads,
        connection_limit=CONNECTION_LIMIT,
        # poll(), not select(): select() fails beyond 1024 file descriptors
        asyncore_use_poll=True,
        # The door answers fast; a slow or hostile client must not hold a connection long.
        channel_timeout=CHANNEL_TIMEOUT,
        cleanup_interval=CLEANUP_INTERVAL,
        max_request_header_size=MAX_HEADER_BYTES,
        max_request_body_size=hotline.settings.max_body_bytes * 2,
        # waitress drops X-Forwarded-* unless told otherwise; behind trusted proxies werkzeug's
        # ProxyFix (web/app.py) must see them, and it reads only the hops it trusts.
        clear_untrusted_proxy_headers=hotline.settings.trusted_proxies == 0,
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
