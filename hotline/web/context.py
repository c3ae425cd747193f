"""What every view of the web layer shares: the running hotline and the page-wide template
values."""

from __future__ import annotations

from typing import Any

from flask import current_app

from hotline.runtime.service import Hotline

POLL_INTERVAL_MS = 2500  # the live pages (incident, drill) ask for fresh data this often
TO_THE_MINUTE = "%Y-%m-%d %H:%M"  # how the pages show most moments (clock.jst_text's format)


def current_hotline() -> Hotline:
    """The Hotline this app was created for (`create_app` keeps it in app.extensions)."""
    hotline: Hotline = current_app.extensions["hotline"]
    return hotline


def template_globals() -> dict[str, Any]:
    """The refused hand edits of the configuration files, shown at the top of every page."""
    hotline: Hotline | None = current_app.extensions.get("hotline")
    problems = [str(p) for p in hotline.config_problems] if hotline is not None else []
    return {"config_problems": problems}
