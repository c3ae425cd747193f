"""The administrator's pages (`/dashboard/admin`): accounts (list, add, change role, disable,
enable) and the audit log (newest first with the differences; `?format=csv` exports it).

Only administrators may open them (hotline/web/auth's `protect`: login, CSRF check, security
headers, error page); every change goes through hotline/domain/accounts.py, which writes the
audit log.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from hotline.clock import jst_text
from hotline.domain import accounts, audit
from hotline.domain.accounts import ROLE_LABELS, ROLES, AccountError
from hotline.web import auth
from hotline.web.context import TO_THE_MINUTE, current_hotline

ADMIN_ROLE = "admin"
AUDIT_PAGE_SIZE = 500  # the page shows the newest entries; the CSV has them all

admin = Blueprint("admin", __name__, url_prefix="/dashboard/admin")

auth.protect(admin, ADMIN_ROLE)


def _me() -> accounts.Account:
    account = auth.current_account()
    assert account is not None  # the guard let only administrators in
    return account


# -- accounts -----------------------------------------------------------------------------------


def _accounts_page(form: dict[str, str] | None = None, error: str | None = None) -> str:
    rows = [
        {
            "id": a.id,
            "username": a.username,
            "role": a.role,
            "roleLabel": a.role_label,
            "active": a.active,
            "createdAt": jst_text(a.created_at, TO_THE_MINUTE),
            "createdBy": a.created_by,
            "lastLoginAt": jst_text(a.last_login_at, TO_THE_MINUTE) if a.last_login_at else "—",
            "me": a.id == _me().id,
        }
        for a in accounts.all_accounts(current_hotline().storage)
    ]
    return render_template(
        "admin_accounts.html",
        accounts=rows,
        roles=[(role, ROLE_LABELS[role]) for role in reversed(ROLES)],
        form=form or {"username": "", "role": "viewer"},
        error=error,
        min_length=accounts.MIN_PASSWORD_LENGTH,
    )


@admin.get("/accounts")
def accounts_page() -> Any:
    return _accounts_page()


@admin.post("/accounts")
def add_account() -> Any:
    username = request.form.get("username", "")[:100]
    role = request.form.get("role", "")
    password = request.form.get("password", "")
    kept = {"username": username, "role": role}  # never the password
    if password != request.form.get("password_confirm", ""):
        return _accounts_page(kept, "確認のため2回入力したパスワードが一致しません。"), 400
    try:
        account = accounts.create(
            current_hotline().storage,
            username,
            password,
            role,
            by=_me().username,
            at=current_hotline().clock.now(),
            address=request.remote_addr,
        )
    except AccountError as exc:
        return _accounts_page(kept, str(exc)), 400
    flash(f"「{account.username}」（{account.role_label}）を作成しました。", "ok")
    return redirect(url_for("admin.accounts_page"))


def _other_account(account_id: int) -> accounts.Account:
    """The account an administrator acts on: never their own (no locking oneself out)."""
    account = accounts.get(current_hotline().storage, account_id)
    if account is None:
        abort(404, "アカウントが見つかりません。")
    if account.id == _me().id:
        raise AccountError("自分自身の権限の変更や無効化はできません。別の管理者に依頼してください。")
    return account


def _change(account_id: int, *, role: str | None = None, active: bool | None = None) -> Any:
    hotline = current_hotline()
    by, at, address = _me().username, hotline.clock.now(), request.remote_addr
    try:
        account = _other_account(account_id)
        if role is not None:
            changed = accounts.set_role(hotline.storage, account.id, role, by=by, at=at, address=address)
            flash(f"「{changed.username}」の権限を{changed.role_label}にしました。", "ok")
        elif active is not None:
            changed = accounts.set_active(hotline.storage, account.id, active, by=by, at=at, address=address)
            flash(f"「{changed.username}」を{'有効' if changed.active else '無効'}にしました。", "ok")
    except AccountError as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.accounts_page"))


@admin.post("/accounts/<int:account_id>/role")
def change_role(account_id: int) -> Any:
    return _change(account_id, role=request.form.get("role", ""))


@admin.post("/accounts/<int:account_id>/disable")
def disable(account_id: int) -> Any:
    return _change(account_id, active=False)


@admin.post("/accounts/<int:account_id>/enable")
def enable(account_id: int) -> Any:
    return _change(account_id, active=True)


# -- the audit log ------------------------------------------------------------------------------


@admin.get("/audit")
def audit_page() -> Any:
    storage = current_hotline().storage
    if request.args.get("format") == "csv":
        response = Response(audit.csv_bytes(storage), content_type="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = "attachment; filename=audit-log.csv"
        return response
    return render_template("admin_audit.html", entries=audit.entries(storage, AUDIT_PAGE_SIZE))
