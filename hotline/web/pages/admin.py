"""The administrator's pages (`/dashboard/admin`): accounts (list, add, change role, disable,
enable) and the audit log (newest first with the differences; `?format=csv` exports it), from
which a configuration change can be undone (`config.editing.revert`, audited as config.undo).

Only administrators may open them (hotline/web/auth's `protect`: login, CSRF check, security
headers, error page); every change goes through hotline/domain/accounts.py, which writes the
audit log.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from hotline.clock import jst_text
from hotline.config import editing as config_edit
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
    entries = audit.entries(storage, AUDIT_PAGE_SIZE)
    for entry in entries:  # an account's role by its Japanese name in the field table
        for row in entry["fields"]:
            if row["field"] == audit.FIELD_LABELS["role"]:
                row["before"] = ROLE_LABELS.get(row["before"], row["before"])
                row["after"] = ROLE_LABELS.get(row["after"], row["after"])
    return render_template("admin_audit.html", entries=entries)


@admin.post("/audit/<int:entry_id>/undo")
def undo(entry_id: int) -> Any:
    """Put the configuration files back as they were before the change of entry `entry_id`,
    when nothing changed since (else a Japanese explanation, nothing written)."""
    hotline = current_hotline()
    row = audit.entry(hotline.storage, entry_id)
    expected = audit.undo_state(row) if row is not None else None
    if row is None or expected is None:
        abort(404, "元に戻せる設定の変更が見つかりません。")
    outcome = config_edit.revert(hotline.settings.config_dir, row["diff"], expected_snapshot=expected)
    if not outcome.ok:
        for problem in outcome.problems:
            flash(problem.message, "error")
        return redirect(url_for("admin.audit_page"))
    problems = hotline.reload_config()
    auth.audit_here(
        audit.CONFIG_UNDO,
        f"{row['target']}（記録 #{entry_id} の{audit.action_label(row['action'])}）",
        None,
        {"undoes": entry_id, "files": list(outcome.files), "snapshot": outcome.snapshot},
        diff=outcome.diff,
    )
    flash(f"記録 #{entry_id} の変更を元に戻しました（反映済み）。", "ok")
    if problems:
        flash("ただし設定ファイルに別の誤りがあり、反映できませんでした。", "error")
    return redirect(url_for("admin.audit_page"))
