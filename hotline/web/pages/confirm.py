"""The confirmation step every delete on the settings pages goes through (config.py and
jma_settings.py share it; it imports no page, so the pages stay independent).

Server-side, so it works without JavaScript: the delete button's POST, unless it says
confirmed=yes, gets a page that names what will go and posts the same fields again with
confirmed=yes. The form's snapshot rides along, so a change someone else made in between
still refuses the delete as stale.
"""

from __future__ import annotations

from flask import render_template, request


def unconfirmed(what: str, back: str, consequence: str = "") -> str | None:
    """The confirmation page for deleting `what` (None once the form says confirmed=yes);
    `back` is where 「やめる」 goes, `consequence` an extra line about what the delete does."""
    if request.form.get("confirmed") == "yes":
        return None
    fields = [
        (name, value)
        for name, value in request.form.items(multi=True)
        if name not in ("csrf_token", "confirmed")
    ]
    return render_template(
        "config_confirm.html",
        what=what,
        consequence=consequence,
        fields=fields,
        action=request.path,
        back=back,
    )
