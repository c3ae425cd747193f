"""The `hotline` command: check the configuration, serve the bot, manage drills and accounts."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from hotline import config as config_module
from hotline.cli import copies as cli_copies
from hotline.cli import users as cli_users
from hotline.clock import JST, Clock
from hotline.config.editing.explain import warning_message
from hotline.config.settings import SettingsError, log_format_from_env
from hotline.domain import audit
from hotline.domain.drills import DrillError, Drills, Targets, send_minutes
from hotline.domain.incidents import local_time
from hotline.outbound.client import LineWorksClient
from hotline.outbound.ratelimit import RateLimiter, default_limits
from hotline.runtime import logs
from hotline.storage import Storage


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
    # Weak spots that do not stop the bot: printed, and the exit status stays 0.
    for warning in config.warnings:
        print(f"  警告/warning: {warning}\n    {warning_message(warning)}")
    return 0


def _reload(args: argparse.Namespace) -> int:
    """Validate the files and, when valid, mark them changed so that the running bot (which
    looks every 5 seconds) uses them. A broken configuration is never handed over."""
    code = _check(args)
    if code == 0:
        os.utime(Path(args.config) / config_module.COUNTERPARTS_FILE)
        print("The running hotline picks this configuration up within 5 seconds.")
    return code


def _client() -> LineWorksClient:
    from hotline.config.settings import PLANS, credentials_from_env, plan_from_env

    plan = plan_from_env(os.environ)  # a bad value stops the command, as it stops `serve`
    return LineWorksClient(credentials_from_env(os.environ), limiter=RateLimiter(default_limits(PLANS[plan])))


def _members(args: argparse.Namespace) -> int:
    """`hotline members verify`: every member looked up in the LINE WORKS directory."""
    from hotline.domain.directory import verify_members

    config = config_module.load(args.config)
    checks = verify_members(config, _client(), Storage(args.database), Clock())
    problems = [c for c in checks if c.problem]
    for check in checks:
        status = check.problem or "OK"
        identity = check.member.email or check.member.user_id
        print(f"{check.member.name:<12} {identity:<40} {check.user_id or '-':<38} {status}")
    print(f"{len(checks)} members checked, {len(problems)} need attention")
    return 1 if problems else 0


def _rooms(args: argparse.Namespace) -> int:
    """`hotline rooms sync`: create missing rooms, show who is missing from existing ones."""
    from hotline.domain.directory import sync_rooms

    config = config_module.load(args.config)
    results = sync_rooms(config, _client(), Storage(args.database))
    trouble = 0
    for r in results:
        name = f"rooms/{r.room.path.name}（{r.room.title}）"
        if r.problem:
            trouble += 1
            print(f"NG  {name}: {r.problem}")
        elif r.created_channel_id:
            print(f"作成 {name}: channelId {r.created_channel_id} をファイルに書き込みました")
        elif r.missing or r.unexpected:
            trouble += 1
            print(f"差分 {name}")
            if r.missing:
                print("    いない人: " + "、".join(r.missing))
                print(
                    "    → API では既存の部屋に人を追加できません。"
                    "LINE WORKS アプリで部屋のメニューから招待してください。"
                )
            if r.unexpected:
                print("    設定にない人（userId）: " + "、".join(r.unexpected))
        else:
            print(f"OK  {name}")
    return 1 if trouble else 0


def _serve(args: argparse.Namespace) -> int:
    from hotline.web import server

    try:
        server.serve_production(config_dir=args.config)
    except (SettingsError, config_module.ConfigError) as exc:
        print(f"hotline cannot start:\n{exc}", file=sys.stderr)
        return 2
    return 0


def _when(text: str) -> datetime:
    """'2026-12-01 09:00' (JST) -> an aware datetime."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=JST)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected YYYY-MM-DD HH:MM (JST)") from None


def _codes(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _drills(args: argparse.Namespace) -> Drills:
    """Drills on the database named by --database / HOTLINE_DATABASE. The command line never
    needs LINE WORKS credentials: the running server sends what is enqueued here."""
    config = config_module.load(args.config)
    return Drills(Storage(args.database), lambda: config, Clock(), bot_secret="")


def _drill(args: argparse.Namespace) -> int:
    try:
        drills = _drills(args)
    except config_module.ConfigError as exc:
        print(f"configuration problems:\n{exc}", file=sys.stderr)
        return 1
    if args.action == "create":
        targets = Targets(
            municipalities=_codes(args.municipalities),
            roles=_codes(args.roles),
            rooms=_codes(args.rooms),
            members=_codes(args.members),
        )
        try:
            drill_id = drills.create(
                title=args.title,
                kind=args.kind,
                targets=targets,
                created_by="cli",
                at=args.at,
                cron=args.cron,
                window=tuple(args.window) if args.window else None,
                deadline_minutes=args.deadline,
                remind_minutes=tuple(int(m) for m in _codes(args.remind)),
            )
        except DrillError as exc:
            print(f"訓練を登録できませんでした: {exc}", file=sys.stderr)
            return 1
        audit.record(
            drills.storage,
            cli_users.cli_who(),
            "drill_create",
            f"drill:{drill_id}",
            None,
            audit.drill_snapshot(drills, drill_id),
        )
        count = len(targets.resolve(drills.config()))
        print(
            f"drill {drill_id} created: {count} people, sending takes about "
            f"{send_minutes(count, args.per_minute)} min at the rate LINE WORKS allows"
        )
        return 0
    if args.action == "list":
        for drill in drills.storage.drills():
            shown = drills.public(drill)
            when = (  # shown in JST, as it was entered; an unannounced moment stays hidden
                (shown["cron"] and f"cron {shown['cron']}")
                or (shown["runAt"] and f"{local_time(shown['runAt'])[:16]} JST")
                or f"window {local_time(shown['window']['start'])[:16]}.."
                f"{local_time(shown['window']['end'])[11:16]} JST"
            )
            print(f"{shown['id']:>4}  {shown['kind']:<5} {shown['status']:<9} {when:<26} {shown['title']}")
        return 0
    if args.action == "show":
        row = drills.storage.drill(args.id)
        if row is None:
            print(f"drill {args.id} does not exist", file=sys.stderr)
            return 1
        shown = drills.public(row)
        for run in shown["runs"]:
            run["summary"] = drills.summary(run["id"]) if run["firedAt"] else None
        print(json.dumps(shown, ensure_ascii=False, indent=2))
        return 0
    if args.action in ("cancel", "abort", "run"):
        aborted = drills.storage.run(args.id) if args.action == "abort" else None
        drill_id = aborted["drill_id"] if aborted is not None else args.id  # abort takes a run id
        before = audit.drill_snapshot(drills, drill_id)
        if args.action == "cancel":
            ok = drills.cancel(args.id)
        elif args.action == "abort":
            ok = aborted is not None and drills.abort(args.id)
        else:
            ok = drills.request_now(args.id)
        if ok:
            action = {"cancel": "drill_cancel", "abort": "drill_abort", "run": "drill_request"}[args.action]
            after = audit.drill_snapshot(drills, drill_id)
            audit.record(drills.storage, cli_users.cli_who(), action, f"drill:{drill_id}", before, after)
    else:  # export
        if drills.storage.run(args.id) is None:
            print(f"drill run {args.id} does not exist", file=sys.stderr)
            return 1
        data = drills.csv(args.id)
        if args.output:
            Path(args.output).write_bytes(data)
        else:
            sys.stdout.buffer.write(data)
        return 0
    print("done" if ok else "nothing to do: check the id and the status", file=sys.stderr)
    return 0 if ok else 1


def _add_drill_commands(sub: Any) -> None:
    drill = sub.add_parser("drill", help="roll-call drills: create, list, show, cancel, abort, run, export")
    drill.add_argument(
        "--database",
        default=os.environ.get("HOTLINE_DATABASE", "var/hotline.sqlite3"),
        help="the bot's database (default: $HOTLINE_DATABASE or var/hotline.sqlite3)",
    )
    actions = drill.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="define a drill (times in JST)")
    create.add_argument("--title", required=True)
    create.add_argument("--kind", choices=("drill", "real"), default="drill", help="real = 実参集")
    create.add_argument("--municipalities", default="", help="codes, comma-separated")
    create.add_argument("--roles", default="", help="e.g. deputy_mayor,disaster_head")
    create.add_argument("--rooms", default="", help="room file names, e.g. hq,group-team1")
    create.add_argument("--members", default="", help="e-mails or userIds")
    when = create.add_mutually_exclusive_group()
    when.add_argument("--at", type=_when, help="'YYYY-MM-DD HH:MM' JST; default: now")
    when.add_argument("--cron", help="crontab in JST, e.g. '0 9 1-7 * mon' (first Monday 09:00)")
    when.add_argument(
        "--window", type=_when, nargs=2, metavar=("START", "END"), help="unannounced, in this window"
    )
    create.add_argument("--deadline", type=int, default=60, help="minutes (default 60)")
    create.add_argument("--remind", default="10,20", help="minutes after start (default 10,20)")
    create.add_argument("--per-minute", type=int, default=240, help="the plan's limit, for the estimate")
    actions.add_parser("list", help="all drills")
    for name, what in (
        ("show", "a drill, its runs and summaries (JSON)"),
        ("cancel", "stop a scheduled drill"),
        ("run", "run a drill now (the server sends it)"),
    ):
        actions.add_parser(name, help=what).add_argument("id", type=int, help="drill id")
    actions.add_parser("abort", help="abort a running run").add_argument("id", type=int, help="run id")
    export = actions.add_parser("export", help="a run's answers as CSV (UTF-8 with BOM)")
    export.add_argument("id", type=int, help="run id")
    export.add_argument("-o", "--output", help="file (default: standard output)")


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
    sub.add_parser("reload", help="validate the configuration and have the running bot use it")
    _add_drill_commands(sub)
    cli_users.add_user_commands(sub)
    cli_copies.add_copy_commands(sub)
    for name, what in (
        ("members", "verify: look every member up in the LINE WORKS directory and record their userId"),
        ("rooms", "sync: create rooms without a channelId; show members missing from existing rooms"),
    ):
        command = sub.add_parser(name, help=what)
        command.add_argument("action", choices=["verify"] if name == "members" else ["sync"])
        command.add_argument("--database", default=os.environ.get("HOTLINE_DATABASE", "var/hotline.sqlite3"))
    args = parser.parse_args(argv)
    try:
        logs.configure(log_format_from_env(os.environ))  # HOTLINE_LOG_FORMAT: text or json
    except SettingsError as exc:
        print(f"hotline {args.command}: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        return _check(args)
    if args.command == "drill":
        return _drill(args)
    if args.command == "users":
        return cli_users.run(args)
    if args.command == "reload":
        return _reload(args)
    if args.command in ("backup", "restore"):
        return cli_copies.run(args)
    if args.command in ("members", "rooms"):
        try:
            return _members(args) if args.command == "members" else _rooms(args)
        except (SettingsError, config_module.ConfigError) as exc:
            print(f"hotline {args.command}: {exc}", file=sys.stderr)
            return 2
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
