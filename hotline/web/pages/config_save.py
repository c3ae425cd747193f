"""One configuration save from a settings page (the configuration pages and the JMA settings
page alike): apply the changes with the form's snapshot, reload the running bot, audit the
change with the TOML diff and the snapshot an undo checks, and tell the administrator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import flash

from hotline.config import editing as config_edit
from hotline.config.editing import Change, Outcome
from hotline.web import auth
from hotline.web.context import current_hotline

SAVED_MESSAGE = "保存しました（反映済み）"
NOT_LOADED_MESSAGE = "ただし設定ファイルに別の誤りがあり、反映できませんでした。上の表示を確認してください。"


def save(changes: Sequence[Change], target: str, snapshot: str, record: Mapping[str, Any]) -> Outcome:
    """Apply `changes` if the files are still as the form saw them (`snapshot`). When they
    are made: reload, audit (`record` plus the files and the snapshot after), flash. A refused
    outcome is returned untouched, for the page to show beside the fields."""
    hotline = current_hotline()
    outcome = config_edit.apply(hotline.settings.config_dir, changes, expected_snapshot=snapshot)
    if not outcome.ok:
        return outcome
    problems = hotline.reload_config()
    first = changes[0]
    # The diff column holds the unified diff of the TOML files (what the audit page shows line
    # by line); `snapshot` is what the files look like right after, which an undo checks.
    auth.audit_here(
        f"config.{first.kind}.{first.action}",
        target,
        None,
        {**record, "files": list(outcome.files), "snapshot": outcome.snapshot},
        diff=outcome.diff,
    )
    flash(SAVED_MESSAGE, "ok")
    if problems:  # someone broke another file by hand in the meantime
        flash(NOT_LOADED_MESSAGE, "error")
    return outcome
