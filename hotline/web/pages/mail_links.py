"""The page a fallback mail's link opens (`/m/<token>`): acknowledge a report, or answer a
drill, from a phone's browser without logging in (hotline/domain/mail_links.py does the work).

- **The link is the credential.** The token is read with `LinkSigner(settings.secret_key, "")`
  against hotline's clock: a forged or altered one gets a Japanese 404, an expired one a 410
  that says what to do instead; nothing changes either way. GET only reads; the button POSTs.
- **No login, no session, no CSRF token.** A CSRF attack needs a page elsewhere to make the
  person's browser POST here, but the only thing that lets a POST act is the token in the
  address, which a third party does not have (and if it had it, it could POST itself). Flask-
  WTF's token would add a session cookie to pages opened from mail apps, whose in-app browsers
  drop or block cookies, and turn a correct press into a "form expired" error in a disaster.
  The app's CSRF check is not on by default (WTF_CSRF_CHECK_DEFAULT is off; the dashboard's
  guards call it), so this blueprint simply does not call it.
- **Guessing is pointless rather than rate-limited.** A token carries an HMAC (itsdangerous,
  HMAC-SHA1 keyed with HOTLINE_SECRET_KEY: 160 bits), checked in constant time; at a thousand
  tries a second a guess takes about 10^37 years, and even a valid link can only acknowledge
  one report (or answer one run) as one person. A limiter would only add state to a page
  that must work during a disaster from many people behind one address (a town hall's proxy).
- The address holds the token: the page sends no Referer (`Referrer-Policy: no-referrer`) and
  nothing is cached (the app's `no-store`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request

from hotline.domain import mail_links
from hotline.domain.mail_links import LinkProblem
from hotline.web import auth
from hotline.web.context import current_hotline

TOKEN_LIMIT = 512  # a real token is about 100 characters; anything much longer is not one
QUESTION_NAMES = {"safety": "安否", "arrival": "参集見込み"}
PROBLEMS = {
    "forged": (
        404,
        "このリンクは使えません",
        "リンクが正しくないか、途中で変わってしまっています。メールのリンクをもう一度、全体を開いてください。"
        "それでも開けないときは、LINE WORKSで確認するか、県災害対策本部に電話してください。",
    ),
    "expired": (
        410,
        "このリンクは有効期限が切れています",
        "メールのリンクは送信から3日間だけ使えます。確認や回答は、LINE WORKSのボタンでするか、"
        "県災害対策本部に電話で伝えてください。",
    ),
    "aborted": (
        410,
        "この訓練（参集確認）は中止されました",
        "中止されたため、回答は必要ありません。詳しくは県災害対策本部にお問い合わせください。",
    ),
}

mail_links_page = Blueprint("mail_links", __name__, url_prefix="/m")


def _page(template: str, status: int = 200, **values: Any) -> Response:
    response = Response(render_template(template, **values), status=status)
    response.headers["Referrer-Policy"] = "no-referrer"  # the address is the credential
    response.headers["X-Robots-Tag"] = "noindex"
    return auth.security_headers(response)


def _problem(reason: str) -> Response:
    status, title, text = PROBLEMS[reason]
    return _page("mail_link_problem.html", status, status_code=status, title=title, text=text)


@mail_links_page.route("/<token>", methods=["GET", "POST"])
def link(token: str) -> Response:
    """GET shows the report (or the drill question) and its button; POST is the button."""
    hotline = current_hotline()
    config = hotline.config()
    try:
        if len(token) > TOKEN_LIMIT:
            raise LinkProblem("forged")
        found = mail_links.read(hotline.settings.secret_key, token, hotline.clock.now())
        if found.kind == "ack":
            if request.method == "POST":
                # drills.on_enqueue is the running hotline's outbox wake-up, shared by its services
                new, view = mail_links.acknowledge(
                    hotline.storage, config, found, hotline.clock.now(), hotline.drills.on_enqueue
                )
                return _page("mail_link.html", view=view, pressed=True, new=new)
            return _page("mail_link.html", view=mail_links.ack_page(hotline.storage, config, found))
        if request.method == "POST":
            data = request.form.get("answer", "")[:200]
            new, view = mail_links.answer_drill(hotline.drills, config, found, data)
            return _page("mail_link.html", view=view, pressed=True, new=new, names=QUESTION_NAMES)
        view = mail_links.drill_page(hotline.storage, config, hotline.drills.bot_secret, found)
        return _page("mail_link.html", view=view, names=QUESTION_NAMES)
    except LinkProblem as problem:
        return _problem(problem.reason)
