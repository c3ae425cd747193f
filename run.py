"""Start hotline.

python run.py           # production: credentials from the environment (see README)
python run.py --demo    # the bot with the embedded LINE WORKS emulator, no credentials
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hotline.config import ConfigError
from hotline.config.settings import SettingsError, log_format_from_env
from hotline.runtime import logs

ROOT = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run with the embedded LINE WORKS emulator and the sample configuration",
    )
    parser.add_argument("--config", type=Path, default=None, help="folder with counterparts.toml and rooms/")
    parser.add_argument("--port", type=int, default=8080, help="hotline's port in demo mode")
    parser.add_argument("--emulator-port", type=int, default=8090, help="the emulator's port in demo mode")
    args = parser.parse_args()
    try:
        logs.configure(log_format_from_env(os.environ))  # HOTLINE_LOG_FORMAT: text or json
        if args.demo:
            from hotline import demo

            demo.run(args.config or ROOT, port=args.port, emulator_port=args.emulator_port)
        else:
            from hotline.web import server

            server.serve_production(args.config)
    except (SettingsError, ConfigError) as exc:
        print(f"hotline cannot start:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
