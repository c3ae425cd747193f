"""hotline's callback door alone: the production app and server (`hotline.web.server.
make_server`, settings from the environment as `python run.py` reads them) with the worker
loops not started, so nothing but the door runs in the process. The ingest benchmark compares
it with the bare app (`bench/bare_app.py`) to measure what durable storing costs, apart from
the inbox worker that shares the full server's process.

    python -m bench.door_app
"""

from __future__ import annotations

from hotline import config as config_module
from hotline.config import settings as settings_module
from hotline.runtime.service import Hotline
from hotline.web.server import make_server


def main() -> None:
    settings = settings_module.from_env()
    hotline = Hotline(settings, config_module.load(settings.config_dir))  # no .start(): no loops
    make_server(hotline, settings.host, settings.port).run()


if __name__ == "__main__":
    main()
