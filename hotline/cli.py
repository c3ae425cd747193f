"""The `hotline` command: check the configuration, serve the bot."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from hotline import config as config_module
from hotline.settings import SettingsError


def _check(args: argparse.Namespace) -> int:
    try:
        config = config_module.load(args.config)
    except config_module.ConfigError as exc:
        print(
            f"{len(exc.problems)} problem(s) in the configuration under {args.config}:",
            file=sys.stderr,
        )
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    members = sum(1 for _ in config.all_members())
    print(
        f"OK: {config.prefecture_name}, {len(config.municipalities)} municipalities, "
        f"{len(config.groups)} groups, {len(config.counterparts)} counterpart assignments, "
        f"{len(config.rooms)} rooms, {members} members"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from hotline import server

    try:
        server.serve_production(config_dir=args.config)
    except (SettingsError, config_module.ConfigError) as exc:
        print(f"hotline cannot start:\n{exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline", description="LINE WORKS disaster hotline bot")
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("."),
        help="folder holding counterparts.toml and rooms/ (default: .)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="validate counterparts.toml and rooms/*.toml; list every mistake")
    sub.add_parser("serve", help="run the bot with the credentials in the environment")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "check":
        return _check(args)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
