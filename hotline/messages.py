"""Every Japanese text the bot sends, and the message contents that carry them.

Kept in one place so wording can be reviewed by the people who read it (as bolt-python keeps
its messages in one module).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hotline.clock import jst

ACK_LABEL = "確認しました"
TRUNCATED = "\n（以下省略。全文は本部の記録にあります）"
TEXT_LIMIT = 2000  # LINE WORKS text message limit
BUTTON_TEXT_LIMIT = 1000  # button_template contentText limit

# Words that count as an acknowledgement when typed in a room under a report (after NFKC
# normalisation, surrounding spaces and a trailing 。/！/! removed). Documented in the README.
ACK_WORDS = frozenset(
    {
        "確認",
        "確認しました",
        "確認済",
        "確認済み",
        "了解",
        "了解です",
        "了解しました",
        "承知",
        "承知しました",
        "把握しました",
    }
)


def hhmm(moment: datetime) -> str:
    return jst(moment).strftime("%H:%M")


def stamp(moment: datetime) -> str:
    local = jst(moment)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def report_header(label: str, town: str, role: str, poster: str) -> str:
    return f"【{label}】{town} {role} {poster}"


def report_content(
    *, label: str, town: str, role: str, poster: str, created: datetime, text: str, postback: str
) -> dict[str, Any]:
    """A relayed report with its 「確認しました」 action.

    In rooms, button templates allow *message* actions (with a postback), not postback
    actions (lineworks-api.md §6). Reports too long for a button template (1000 characters)
    go as text with a quick-reply postback instead; whether quick replies show in multi-user
    rooms is UNCONFIRMED, so the typed words in ACK_WORDS work everywhere as well.
    """
    body = f"{report_header(label, town, role, poster)}\n{stamp(created)} 受信\n\n{text}"
    if len(body) <= BUTTON_TEXT_LIMIT:
        return {
            "type": "button_template",
            "contentText": body,
            "actions": [{"type": "message", "label": ACK_LABEL, "text": ACK_LABEL, "postback": postback}],
        }
    if len(body) > TEXT_LIMIT:
        body = body[: TEXT_LIMIT - len(TRUNCATED)] + TRUNCATED
    return {
        "type": "text",
        "text": body,
        "quickReply": {
            "items": [
                {
                    "action": {
                        "type": "postback",
                        "label": ACK_LABEL,
                        "data": postback,
                        "displayText": ACK_LABEL,
                    }
                }
            ]
        },
    }


def attachment_content(
    kind: str, source: dict[str, Any], *, header: str, file_id: str | None
) -> dict[str, Any]:
    """What to send for a received photo, file or location."""
    if kind == "location":
        lat, lng = source.get("latitude"), source.get("longitude")
        address = str(source.get("address") or "")
        return {
            "type": "link",
            "contentText": f"{header}\n位置情報: {address}\n({lat}, {lng})"[:1000],
            "linkText": "地図で開く",
            "link": f"https://maps.google.com/maps?q={lat},{lng}",
        }
    if kind == "image":
        return {"type": "image", "fileId": file_id}
    return {"type": "file", "fileId": file_id}


ATTACHMENT_NAMES = {
    "image": "写真",
    "file": "ファイル",
    "location": "位置情報",
    "video": "動画",
    "audio": "音声",
}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value[:TEXT_LIMIT]}


def receipt(
    label: str,
    created: datetime,
    delivered: Sequence[str],
    retrying: Sequence[str],
    failed: Sequence[tuple[str, str]],
    attachments: Sequence[str] = (),
) -> dict[str, Any]:
    """The short receipt the poster gets in the room she posted in. The first line says
    plainly whether everything arrived; problems come before the list of successes."""
    total = len(delivered) + len(retrying) + len(failed)
    if not retrying and not failed:
        lines = [f"{label}（{hhmm(created)}）は{total}か所すべてに届きました。"]
    else:
        lines = [f"{label}（{hhmm(created)}）は{total}か所中{len(delivered)}か所に届きました。"]
    if failed:
        lines.append("届けられなかった送信先: " + "、".join(f"{room}（{why}）" for room, why in failed))
        lines.append("県災害対策本部にも知らせています。必要なら電話でも連絡してください。")
    if retrying:
        lines.append("まだ届いていない送信先（再送中・届いたらお知らせします）: " + "、".join(retrying))
    if delivered:
        lines.append(f"届いた送信先（{len(delivered)}）: " + "、".join(delivered))
    if attachments:
        lines.append("添付: " + "、".join(attachments))
    return text("\n".join(lines))


def arrived(label: str, created: datetime, room: str) -> dict[str, Any]:
    """A room that was being retried has now received the report."""
    return text(f"再送していた{label}（{hhmm(created)}）が「{room}」に届きました。")


def delivery_failed(label: str, town: str, created: datetime, room: str, why: str) -> dict[str, Any]:
    return text(
        f"【配信失敗】{town}の{label}（{hhmm(created)}）を「{room}」に届けられませんでした。\n"
        f"理由: {why}\n"
        f"「{room}」の皆さんへは、電話など別の手段で連絡してください。"
    )


def stranger(contact: str) -> dict[str, Any]:
    whom = contact or "県災害対策本部"
    return text(
        "このアカウントはホットラインに登録されていないため、報告を中継できませんでした。\n"
        f"登録については {whom} にお問い合わせください。"
    )


def hq_cannot_report() -> dict[str, Any]:
    return text(
        "県災害対策本部の方の投稿は市町の報告として中継しません。"
        "被災市町の報告は、その市町の登録者が「第一報」で始めて送ってください。"
    )


def empty_report(label: str) -> dict[str, Any]:
    return text(
        f"「{label}」の後に状況を書いて、もう一度送ってください。\n"
        "例: 第一報 午前3時頃から大雨、市内3か所で土砂崩れ、人的被害確認中"
    )


def help_text() -> dict[str, Any]:
    return text(
        "ホットラインへの報告は、最初に「第一報」と書いて送ってください。\n"
        "例: 第一報 午前3時頃から大雨、市内3か所で土砂崩れ、人的被害確認中\n"
        "続きは「第二報」「第3報」「続報」で始めてください。"
        "報告の後10分以内に送った写真・ファイル・位置情報も一緒に中継します。"
    )


FAILURE_REASONS = {
    403: "ボットがこのトークルームから外されています",
    404: "トークルームが見つかりません（削除されたか、ボットが参加していません）",
    400: "LINE WORKSがメッセージを受け付けませんでした",
}


def failure_reason(status: int | None, code: str) -> str:
    if status in FAILURE_REASONS:
        return FAILURE_REASONS[status]
    return f"LINE WORKSのエラー（{status or ''} {code}）".strip()


NO_CHANNEL = "トークルームがまだ作成されていません（チャンネルID未設定）"
GAVE_UP = "24時間再送しても届きませんでした"


def reminder(label: str, town: str, created: datetime, text_: str, postback: str) -> dict[str, Any]:
    """The 1:1 reminder to a member of a town that has not acknowledged a report."""
    body = (
        f"【確認のお願い】{town}の{label}（{hhmm(created)}）がまだ確認されていません。\n"
        f"下の内容を確認し、「{ACK_LABEL}」を押してください。\n\n{text_}"
    )
    if len(body) > BUTTON_TEXT_LIMIT:
        body = body[: BUTTON_TEXT_LIMIT - 10] + "…"
    return {
        "type": "button_template",
        "contentText": body,
        "actions": [{"type": "message", "label": ACK_LABEL, "text": ACK_LABEL, "postback": postback}],
    }


def escalation(
    label: str, town: str, created: datetime, silent: Sequence[str], minutes: int
) -> dict[str, Any]:
    """To HQ: the municipalities that still have not acknowledged a report."""
    return text(
        f"【未確認】{town}の{label}（{hhmm(created)}）を{minutes}分たっても確認していない市町: "
        + "、".join(silent)
        + "\n電話など別の手段での連絡を検討してください。"
    )


def board_post(
    label: str, town: str, role: str, poster: str, created: datetime, text_: str
) -> tuple[str, str]:
    """Title and HTML body of the must-read board post that mirrors a first report."""
    title = f"【{label}】{town} {stamp(created)}"
    body = (
        f"<p>{html.escape(report_header(label, town, role, poster))}<br>"
        f"{html.escape(stamp(created))} 受信</p>"
        f"<p>{html.escape(text_).replace(chr(10), '<br>')}</p>"
        "<p>ホットラインのトークルームで「確認しました」を押してください。</p>"
    )
    return title, body


def event_failed(inbox_id: int) -> dict[str, Any]:
    return text(
        f"【要確認】受信したメッセージ（受信番号 {inbox_id}）を処理できませんでした。"
        "報告だった可能性があります。管理者が記録を確認してください。"
    )
