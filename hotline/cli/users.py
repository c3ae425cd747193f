"""`hotline users ...`: accounts for the web pages from the command line.

    hotline users add NAME --role admin|coordinator|viewer [--password-stdin]
    hotline users list
    hotline users passwd NAME [--password-stdin]

The first administrator is made here; later ones can also be made in the browser. The password
is read twice from the terminal without echo (getpass), or once from standard input with
`--password-stdin` for scripts; it never appears on the command line or in the audit log.
Changes are audited as `cli:<operating-system user>`.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from hotline.clock import Clock
from hotline.domain import accounts
from hotline.domain.accounts import ROLE_LABELS, ROLES, AccountError
from hotline.domain.incidents import local_time
from hotline.storage import Storage


def cli_who() -> str:
    """Who did it, for the audit log: the operating-system user running the command."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


def add_user_commands(subparsers: Any) -> None:
    users = subparsers.add_parser("users", help="accounts for the web pages: add, list, passwd")
    users.add_argument(
        "--database",
        default=os.environ.get("HOTLINE_DATABASE", "var/hotline.sqlite3"),
        help="the bot's database (default: $HOTLINE_DATABASE or var/hotline.sqlite3)",
    )
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="create an account (asks for the password twice)")
    add.add_argument("name", help="user name: letters, digits and . _ @ -")
    add.add_argument("--role", required=True, choices=ROLES, help="admin, coordinator or viewer")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    actions.add_parser("list", help="all accounts with their roles")
    passwd = actions.add_parser("passwd", help="set a new password for an account")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(
        f"password for {args.name} (at least {accounts.MIN_PASSWORD_LENGTH} characters): "
    )
    if getpass.getpass("again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    storage = Storage(args.database)
    try:
        if args.action == "list":
            for a in accounts.all_accounts(storage):
                state = "active" if a.active else "disabled"
                last = local_time(a.last_login_at)[:16] if a.last_login_at else "-"
                print(f"{a.username:<24} {a.role:<12} {ROLE_LABELS[a.role]:<5} {state:<9} last login {last}")
            return 0
        password = _password(args)
        if args.action == "add":
            account = accounts.create(storage, args.name, password, args.role, by=cli_who(), at=Clock().now())
            print(f"account {account.username} created ({account.role}, {account.role_label})")
            return 0
        found = accounts.by_name(storage, args.name)
        if found is None:
            print(f"no account named {args.name}", file=sys.stderr)
            return 1
        accounts.set_password(storage, found.id, password, by=cli_who(), at=Clock().now())
        print(f"password of {found.username} changed")
        return 0
    except AccountError as exc:
        print(f"hotline users {args.action}: {exc}", file=sys.stderr)
        return 1
    finally:
        storage.close()
