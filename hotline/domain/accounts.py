"""People's accounts for hotline's own pages: create, authenticate, list, change role, disable.

Passwords are hashed with werkzeug's `generate_password_hash` (scrypt, salted) and checked
with `check_password_hash`; the password itself is never stored, logged or audited. Roles
rise in this order: viewer (閲覧者: the dashboards and drill pages), coordinator (訓練担当:
also creates, fires, cancels and aborts drills), admin (管理者: also manages accounts, reads
the audit log and, later, edits the configuration).

Every change is written to the audit log (hotline/audit.py) in the same transaction.
Changes that would leave no active administrator are refused, so nobody can lock the
prefecture out of its own system by mistake.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from hotline.clock import iso
from hotline.domain import audit
from hotline.storage import Storage

ROLES = ("viewer", "coordinator", "admin")  # each may do everything the ones before it may
ROLE_LABELS = {"admin": "管理者", "coordinator": "訓練担当", "viewer": "閲覧者"}
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # hashing a megabyte "password" is no one's business
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
HASH_METHOD = "scrypt"


@cache
def _dummy_hash() -> str:
    """Checked when the name is unknown, so that a wrong name costs as long as a wrong password.
    Made on first use, not at import: scrypt takes ~80 ms, a tenth of `hotline check` and of
    the start-up (the first unknown name after a start pays it once)."""
    return generate_password_hash("not a password of anyone", method=HASH_METHOD)


class AccountError(Exception):
    """A refused account change; the message is Japanese, for the person who asked."""


class LoginFailed(Exception):
    """Why a login failed: unknown_user | wrong_password | disabled (never shown to users)."""

    def __init__(self, reason: str, account: Account | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.account = account


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: str
    active: bool
    created_at: str
    created_by: str
    last_login_at: str | None

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    def may(self, role: str) -> bool:
        """Whether this account has `role` or a higher one."""
        return self.active and rank(self.role) >= rank(role)

    def public(self) -> dict[str, Any]:
        """What the audit log and the pages may show (no password hash)."""
        return {"username": self.username, "role": self.role, "active": self.active}


def rank(role: str) -> int:
    return ROLES.index(role) if role in ROLES else -1


def _account(row: sqlite3.Row) -> Account:
    return Account(
        id=row["id"],
        username=row["username"],
        role=row["role"],
        active=bool(row["active"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
        last_login_at=row["last_login_at"],
    )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください。")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"パスワードは{MAX_PASSWORD_LENGTH}文字以内にしてください。")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError("権限は「管理者」「訓練担当」「閲覧者」のどれかです。")


def get(storage: Storage, account_id: int) -> Account | None:
    row = storage.account(account_id)
    return _account(row) if row is not None else None


def by_name(storage: Storage, username: str) -> Account | None:
    row = storage.account_by_name(username)
    return _account(row) if row is not None else None


def all_accounts(storage: Storage) -> list[Account]:
    return [_account(row) for row in storage.accounts()]


def create(
    storage: Storage,
    username: str,
    password: str,
    role: str,
    *,
    by: str,
    at: datetime,
    address: str | None = None,
) -> Account:
    """A new active account (audited); AccountError for a bad name, password or role."""
    username = username.strip()
    if not USERNAME.fullmatch(username):
        raise AccountError(
            "ユーザー名は半角英数字で始まり、半角英数字と . _ @ - だけの64文字以内にしてください。"
        )
    check_password(password)
    _check_role(role)
    password_hash = generate_password_hash(password, method=HASH_METHOD)
    with storage.transaction():
        try:
            account_id = storage.create_account(username, password_hash, role, iso(at), by)
        except sqlite3.IntegrityError:
            raise AccountError(f"ユーザー名「{username}」はすでに使われています。") from None
        account = get(storage, account_id)
        assert account is not None
        audit.record(
            storage,
            by,
            "account_create",
            f"account:{username}",
            None,
            account.public(),
            at=at,
            address=address,
        )
    return account


def authenticate(storage: Storage, username: str, password: str) -> Account:
    """The account for these credentials; LoginFailed otherwise. Unknown names take as long
    as wrong passwords, so the answer's timing does not tell which names exist."""
    row = storage.account_by_name(username.strip()) if username.strip() else None
    if row is None or len(password) > MAX_PASSWORD_LENGTH:
        check_password_hash(_dummy_hash(), password[:MAX_PASSWORD_LENGTH])
        raise LoginFailed("unknown_user" if row is None else "wrong_password")
    account = _account(row)
    if not check_password_hash(row["password_hash"], password):
        raise LoginFailed("wrong_password", account)
    if not account.active:
        raise LoginFailed("disabled", account)
    return account


def mark_login(storage: Storage, account: Account, at: datetime) -> None:
    storage.set_account(account.id, last_login_at=iso(at))


def _change(
    storage: Storage,
    account_id: int,
    action: str,
    *,
    by: str,
    at: datetime,
    address: str | None,
    **fields: Any,
) -> Account:
    """Apply `fields` to an account, refusing to leave no active administrator; audited."""
    with storage.transaction():
        before = get(storage, account_id)
        if before is None:
            raise AccountError("アカウントが見つかりません。")
        storage.set_account(account_id, **fields)
        after = get(storage, account_id)
        assert after is not None
        if before.may("admin") and not after.may("admin") and storage.active_admins() == 0:
            raise AccountError(  # rolls the change back
                "有効な管理者が1人もいなくなるため、変更できません。先に別の管理者を作成してください。"
            )
        if before != after:
            audit.record(
                storage,
                by,
                action,
                f"account:{after.username}",
                before.public(),
                after.public(),
                at=at,
                address=address,
            )
    return after


def set_role(
    storage: Storage, account_id: int, role: str, *, by: str, at: datetime, address: str | None = None
) -> Account:
    _check_role(role)
    return _change(storage, account_id, "account_role", by=by, at=at, address=address, role=role)


def set_active(
    storage: Storage, account_id: int, active: bool, *, by: str, at: datetime, address: str | None = None
) -> Account:
    action = "account_enable" if active else "account_disable"
    return _change(storage, account_id, action, by=by, at=at, address=address, active=int(active))


def set_password(
    storage: Storage, account_id: int, password: str, *, by: str, at: datetime, address: str | None = None
) -> Account:
    """A new password (audited as a change, never with the password or its hash)."""
    check_password(password)
    password_hash = generate_password_hash(password, method=HASH_METHOD)
    with storage.transaction():
        account = get(storage, account_id)
        if account is None:
            raise AccountError("アカウントが見つかりません。")
        storage.set_account(account_id, password_hash=password_hash)
        audit.record(
            storage,
            by,
            "account_password",
            f"account:{account.username}",
            {"password": "（変更前）"},
            {"password": "（変更後）"},
            at=at,
            address=address,
        )
    return account
