"""Every Japanese text the bot sends, and the message contents that carry them.

Kept in one place so wording can be reviewed by the people who read it (as bolt-python keeps
its messages in one module).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hotline.clock import jst, jst_text

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


NOT_NEEDED = "送信不要になりました"  # why a reminder was cancelled just before it went


def hhmm(moment: datetime) -> str:
    return jst_text(moment, "%H:%M")


def stamp(moment: datetime) -> str:
    # Month and day without leading zeros, which strftime cannot say portably (%-m is glibc's).
    local = jst(moment)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def report_header(label: str, town: str, role: str, poster: str) -> str:
    # an instruction sent from the dashboard has no role (domain/instructions)
    return f"【{label}】" + " ".join(part for part in (town, role, poster) if part)


def report_content(
    *, label: str, town: str, role: str, poster: str, created: datetime, text: str, postback: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A relayed report with its 「確認しました」 action: (the report, None), or, for a report
    too long for a button template, (the report as text, a short button message after it).

    In rooms, button templates allow *message* actions (with a postback), not postback
    actions (lineworks-api.md §6), and their text holds 1,000 characters. A longer report goes
    as a text message (2,000 characters) followed by a short button template that carries the
    same action: quick replies are not used, because nothing documents that they show in
    multi-user rooms or that a tap on one comes back as a postback event (§14). The typed
    words in ACK_WORDS work everywhere as well.
    """
    body = f"{report_header(label, town, role, poster)}\n{stamp(created)} 受信\n\n{text}"
    action = {"type": "message", "label": ACK_LABEL, "text": ACK_LABEL, "postback": postback}
    if len(body) <= BUTTON_TEXT_LIMIT:
        return {"type": "button_template", "contentText": body, "actions": [action]}, None
    if len(body) > TEXT_LIMIT:
        body = body[: TEXT_LIMIT - len(TRUNCATED)] + TRUNCATED
    button = {
        "type": "button_template",
        "contentText": (
            f"上の{town}の{label}（{hhmm(created)} 受信）を読んだら「{ACK_LABEL}」を押してください。"
        ),
        "actions": [action],
    }
    return {"type": "text", "text": body}, button


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


def ack_recorded(
    label: str, town: str, created: datetime, *, typed_in_room: bool, via: str = "tap"
) -> dict[str, Any]:
    """The one confirmation after a tap, a typed word or a mail link's button: which report,
    which town (and, for the mail link, that it came that way)."""
    how = "（書き込みは、このトークルームの最新の報告1件への確認として記録します）" if typed_in_room else ""
    if via == "mail":
        how = "（メールのリンクから確認されました）"
    return text(f"{town}の{label}（{stamp(created)}）への確認を記録しました。{how}")


def ack_already(label: str, town: str, created: datetime, acked_at: datetime) -> dict[str, Any]:
    """A second tap (or word) for the same report: nothing new was recorded."""
    return text(f"{town}の{label}（{stamp(created)}）への確認は、{stamp(acked_at)}に記録済みです。")


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
    403: "LINE WORKSが送信を拒否しました（権限がありません）",
    404: "トークルームが見つかりません（削除されたか、ボットが参加していません）",
    400: "LINE WORKSがメッセージを受け付けませんでした",
}
# A 403 explained (outbound.client: LineWorksError.reason). A missing scope is the operator's
# to fix; telling people "the bot was removed" would send them to the wrong room.
MISSING_SCOPE_REASON = (
    "ボットのAPI権限（スコープ）が足りません。"
    "管理者が LW_API_SCOPE と Developer Console の設定を確認してください"
)
NOT_IN_ROOM_REASON = "ボットがこのトークルームから外されています"


def failure_reason(status: int | None, code: str, reason: str = "") -> str:
    """Why a message could not be delivered, for the poster and HQ. `reason` is the client's
    explanation of a 403 ("missing_scope" or "not_in_room")."""
    if reason == "missing_scope":
        return MISSING_SCOPE_REASON
    if reason == "not_in_room":
        return NOT_IN_ROOM_REASON
    if status in FAILURE_REASONS:
        return FAILURE_REASONS[status]
    return f"LINE WORKSのエラー（{status or ''} {code}）".strip()


NO_CHANNEL = "トークルームがまだ作成されていません（チャンネルID未設定）"
NO_ROOM_FOR_PERSON = "この人に届くトークルームがありません"
GAVE_UP = "24時間再送しても届きませんでした"
CHANNEL_NAMES = {"mail": "メール", "webhook": "外部システムへの通知（Webhook）"}


def channel_off(channel: str) -> str:
    """Why a mail or webhook row still needed could not go: its channel is switched off."""
    name = CHANNEL_NAMES.get(channel, channel)
    return f"{name}の送信が設定されていない（止められた）ため送れませんでした"


# -- outgoing webhooks (outbound/webhooks.py): why a POST failed for good -------------------
WEBHOOK_NOT_CONFIGURED = "Webhook「{name}」は設定にありません（削除された可能性があります）"


def webhook_refused(name: str, status: int) -> str:
    """Why a webhook's receiver refused an event for good (a 3xx, or a 4xx other than 408/425/429)."""
    if 300 <= status < 400:
        return (
            f"Webhook「{name}」の受信側が転送（HTTP {status}）を返しました。"
            "転送先には送りません。URLを確認してください"
        )
    if status in (401, 403):
        return (
            f"Webhook「{name}」の受信側が署名または権限を拒否しました（HTTP {status}）。"
            "秘密鍵の設定を確認してください"
        )
    if status in (404, 410):
        return f"Webhook「{name}」のURLが受信側にありません（HTTP {status}）。URLを確認してください"
    return f"Webhook「{name}」の受信側が受け付けませんでした（HTTP {status}）"


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
    label: str,
    town: str,
    created: datetime,
    silent: Sequence[str],
    minutes: int,
    contacts: Sequence[tuple[str, str, str, str]] = (),
    steps: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """To HQ: the municipalities that still have not acknowledged a report, and whom to call
    in each: (town, role, name, phone) per silent town, phone "" when none is registered.
    `steps` gives, for a town with an escalation chain, the caller's place in it (1-based
    position, length), shown as 「連絡順 2/3」."""
    lines = [
        f"【未確認】{town}の{label}（{hhmm(created)}）を{minutes}分たっても確認していない市町: "
        + "、".join(silent),
        "電話など別の手段での連絡を検討してください。",
    ]
    for where, role, name, phone in contacts:
        line = (
            f"・{where} {role} {name} {phone}" if phone else f"・{where} {role} {name}（電話番号の登録なし）"
        )
        step = (steps or {}).get(where)
        lines.append(f"{line}（連絡順 {step[0]}/{step[1]}）" if step else line)
    return text("\n".join(lines))


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


# -- drills (職員参集訓練) and real roll-calls (実参集) ---------------------------------------------
# Every drill message starts with 【訓練】; a real roll-call's with 【実参集】 and never 【訓練】.

DRILL_LABEL = "【訓練】"
REAL_CALL_LABEL = "【実参集】"
# The choices are button labels and also the stored answers: the drill summary counts them by
# these exact words, so changing one splits the history of its answers.
DRILL_SAFETY_CHOICES = ("無事", "軽傷", "重傷")
DRILL_ARRIVAL_CHOICES = ("すぐ参集可", "30分以内", "1時間以内", "3時間以内", "参集不可")


def drill_label(kind: str) -> str:
    return REAL_CALL_LABEL if kind == "real" else DRILL_LABEL


def send_time_text(minutes: float) -> str:
    """How long sending a roll-call takes, for the coordinator (also on the drill pages)."""
    return "1分以内" if minutes < 1 else f"約{minutes}分"


def drill_question(
    kind: str,
    title: str,
    question: str,
    deadline: datetime,
    buttons: Sequence[tuple[str, str]],
    *,
    first: bool,
    reminder: bool = False,
    understood: str = "",
) -> dict[str, Any]:
    """One question of a roll-call, a button per (choice, postback). The first question
    carries the title and the deadline; a reminder repeats it after 「まだ回答がありません。」;
    the arrival question after a typed safety answer says which one was `understood`."""
    head = drill_label(kind)
    if question == "safety":
        intro = (
            f"{head}{title}\n職員参集の確認です。{hhmm(deadline)}までに回答してください。\n\n"
            if first
            else head
        )
        body = (intro + "1. あなたの安否を選んでください。")[:BUTTON_TEXT_LIMIT]
    else:
        received = f"安否「{understood}」を受け付けました。\n" if understood else ""
        body = f"{head}{received}2. 参集（職場に到着）できるのはいつ頃ですか。"[:BUTTON_TEXT_LIMIT]
    if reminder:
        body = f"{head}まだ回答がありません。\n" + body[len(head) :]
    return {
        "type": "button_template",
        "contentText": body,
        "actions": [
            {"type": "message", "label": choice, "text": choice, "postback": postback}
            for choice, postback in buttons
        ],
    }


def drill_started(
    kind: str, title: str, started: datetime, targets: int, send_minutes: float, deadline: datetime
) -> dict[str, Any]:
    """To the coordinator: the run has fired."""
    return text(
        f"{drill_label(kind)}「{title}」を開始しました（{hhmm(started)}）。"
        f"対象 {targets}人、送信には{send_time_text(send_minutes)}かかります。"
        f"締め切り {hhmm(deadline)}。"
    )


def drill_missed(kind: str, title: str, moment: datetime) -> dict[str, Any]:
    """To the coordinator: a fire time passed while the server was down."""
    return text(
        f"{drill_label(kind)}「{title}」は {jst_text(moment, '%m月%d日 %H:%M')} に実施する予定でしたが、"
        "サーバーが停止していたため実施できませんでした。必要なら改めて実施してください。"
    )


def drill_answer_received(
    kind: str, safety: str | None, arrival: str | None, *, late: bool
) -> dict[str, Any]:
    return text(
        f"{drill_label(kind)}回答を受け付けました: {safety or '未回答'}・{arrival or '未回答'}"
        + ("（締め切り後の回答として記録しました）" if late else "")
        + "\n変更するときは、もう一度ボタンを押してください。"
        + "コメントがあれば30分以内にこのまま書いて送ってください。"
    )


def drill_comment_received(kind: str) -> dict[str, Any]:
    return text(f"{drill_label(kind)}コメントを受け付けました。")


def drill_answer_refused(kind: str | None, *, aborted: bool) -> dict[str, Any]:
    """A tap that could not be taken; in the run's own label when the run is known."""
    head = drill_label(kind) if kind is not None else ""
    if aborted:
        return text(f"{head}この訓練は中止されました。回答は不要です。")
    return text(
        f"{head}この回答は受け付けられませんでした（対象者でないか、ボタンが正しくありません）。"
        "担当者に確認してください。"
    )


def drill_aborted(kind: str, title: str) -> dict[str, Any]:
    """To every target of a run that was stopped."""
    return text(f"{drill_label(kind)}「{title}」は中止されました。回答は不要です。")


def drill_summary(kind: str, title: str, s: dict[str, Any]) -> dict[str, Any]:
    """To the coordinator at the deadline: the run's summary (see drills.results.summary)."""
    lines = [
        f"{drill_label(kind)}「{title}」の結果",
        f"回答率 {s['answered']}/{s['targets']}人（{s['answerRate'] * 100:.0f}%）",
        "安否: " + "、".join(f"{k} {v}人" for k, v in s["safety"].items()),
        "市町別の参集見込み（30分以内 / 1時間以内 / 3時間以内 / 参集不可）:",
    ]
    for t in s["municipalities"]:
        lines.append(
            f"・{t['name']}: {t['by30']} / {t['by60']} / {t['by180']} / {t['cannot']}"
            f"（回答 {t['answered']}/{t['targets']}）"
        )
    if s["silent"]:
        lines.append("未回答: " + "、".join(s["silent"]))
    if s.get("undelivered"):
        lines.append(
            "未達（質問が届いていません）: "
            + "、".join(f"{u['name']}（{u['reason']}）" for u in s["undelivered"])
        )
    if s.get("proxyAnswers"):
        lines.append(f"代理回答 {s['proxyAnswers']}人（担当者が本人に代わって記録）")
    return text("\n".join(lines))


DRILL_UNDELIVERED = "届きませんでした"
DRILL_USER_NOT_FOUND = "LINE WORKSにこの職員のアカウントが見つかりません（IDの誤り、退職・異動など）"


def drill_undelivered_reason(error: str | None) -> str:
    """Why a roll-call question never reached a person, from the reason the sender recorded.
    A 404 to a user is their account, not a talk room (the sender's text names rooms)."""
    if not error:
        return DRILL_UNDELIVERED
    return DRILL_USER_NOT_FOUND if error == FAILURE_REASONS[404] else error


def drill_text_answer_received(
    kind: str, safety: str | None, arrival: str | None, *, late: bool
) -> dict[str, Any]:
    """A typed answer that was understood (「無事です。30分で行けます」)."""
    return text(
        f"{drill_label(kind)}文章から回答を読み取りました: {safety or '未回答'}・{arrival or '未回答'}"
        + ("（締め切り後の回答として記録しました）" if late else "")
        + "\n違っていたら、質問のボタンで選び直してください。"
    )


def drill_text_not_understood(kind: str) -> dict[str, Any]:
    """Text during an open roll-call that says neither safety nor arrival clearly."""
    return text(
        f"{drill_label(kind)}回答を読み取れませんでした。届いている質問のボタンで選んでください。"
        f"文章で答えるときは「{DRILL_SAFETY_CHOICES[0]}、30分で行けます」のように、"
        f"安否（{'・'.join(DRILL_SAFETY_CHOICES)}）と参集できる時間（30分・1時間・3時間・参集不可）を書いてください。"
    )


def room_created() -> dict[str, Any]:
    """The first message in a room the bot created (`hotline rooms sync`)."""
    return text(
        "このトークルームは、災害時の連絡のために hotline ボットが作成しました。"
        "報告は「第一報」で始めて送ってください。"
    )


# -- JMA telegrams (domain/earthquakes) ---------------------------------------------------------
# Every automatic message names its source: 【自動・気象庁】. A JMA drill telegram's messages
# start with 【訓練】 before anything else; only a Status 通常 telegram can lead to 【実参集】.

JMA_LABEL = "【自動・気象庁】"
_INTENSITY_WORDS = {"5-": "5弱", "5+": "5強", "6-": "6弱", "6+": "6強"}


def intensity_text(value: str) -> str:
    """JMA's notation for people: 6- -> 震度6弱."""
    return f"震度{_INTENSITY_WORDS.get(value, value)}" if value else ""


def jma_head(drill: bool) -> str:
    return (DRILL_LABEL if drill else "") + JMA_LABEL


def jma_headline(strongest: str, town: str, others: int, origin: datetime | None) -> str:
    """「震度6弱 愛南町ほか2市町（12月1日 03:02 発生）」: the first line after the label."""
    more = f"ほか{others}市町" if others else ""
    when = f"（{stamp(origin)} 発生）" if origin else ""
    return f"{strongest} {town}{more}{when}"


def jma_notice(
    *,
    drill: bool,
    headline: str,
    what: str,
    kind_name: str,
    reported: datetime,
    hypocentre: str,
    threshold: str,
    towns: Sequence[tuple[str, str, str]],
    started: Sequence[str],
) -> dict[str, Any]:
    """To HQ and the towns' rooms: a telegram reached configured towns. `what` says whether it is
    new, raised, added to or corrected; `towns` are (name, level, change); `started` what hotline
    did about it."""
    lines = [f"{jma_head(drill)}{headline}"]
    if drill:
        lines.append("（気象庁の訓練用の情報です。実際の地震・津波ではありません）")
    if what:
        lines.append(what)
    source = f"{kind_name}（{stamp(reported)} 気象庁発表）"
    lines.append(source + (f" 震源: {hypocentre}" if hypocentre else ""))
    lines.append(f"基準（{threshold}）に達した市町:")
    lines.extend(f"・{name} {level}{change}" for name, level, change in towns)
    if started:
        lines.append("hotline が始めたこと:")
        lines.extend(f"・{item}" for item in started)
    body = "\n".join(lines)
    if len(body) > TEXT_LIMIT:
        body = body[: TEXT_LIMIT - len(TRUNCATED)] + TRUNCATED
    return text(body)


def jma_roll_call_title(headline: str) -> str:
    """The title of the automatic roll-call (the drill pages and every question show it)."""
    return f"気象庁 {headline}"[:100]


def jma_roll_call_started(kind: str, towns: Sequence[str], people: int) -> str:
    return f"{drill_label(kind)}参集確認（{'・'.join(towns)}の職員 {people}人に1:1で送信）"


def jma_first_report_requested(towns: Sequence[str]) -> str:
    return f"第一報の依頼（{'・'.join(towns)}の副市町長へ1:1）"


def jma_first_report_request(
    *, drill: bool, headline: str, town: str, role: str, name: str
) -> dict[str, Any]:
    """1:1 to a stricken town's deputy mayor: the bot asks for the 第一報."""
    return text(
        f"{jma_head(drill)}{headline}\n{town} {role} {name}様\n"
        "被害の状況がわかり次第、このトークに「第一報」で始めて送ってください"
        "（例: 第一報 庁舎被害なし、停電あり）。わかる範囲で構いません。"
        "報告は支援市町と県災害対策本部に同時に届きます。"
    )


def jma_cancelled(*, drill: bool, headline: str) -> dict[str, Any]:
    """To everyone who got an automatic message for an event that JMA cancelled (取消)."""
    return text(
        f"{jma_head(drill)}取消: 「{headline}」\n"
        "気象庁が情報を取り消しました。この情報による自動の通知・参集確認は取り消します。"
        "参集確認への回答は不要です（すでに届いた報告はそのまま残ります）。"
    )


def jma_feed_down(since: datetime) -> dict[str, Any]:
    """To HQ once, when the JMA feed has not answered for 10 minutes."""
    return text(
        f"{JMA_LABEL}気象庁の防災情報XMLに{hhmm(since)}から接続できません。"
        "地震・津波の自動通知が遅れるか、届かないおそれがあります。"
        "気象庁の発表はテレビ・ウェブで確認してください。回復したらお知らせします。"
    )


def jma_feed_back(since: datetime, back: datetime) -> dict[str, Any]:
    """To HQ once, when the JMA feed answers again after an outage it was told about."""
    return text(
        f"{JMA_LABEL}気象庁の防災情報XMLへの接続が回復しました（{hhmm(since)}〜{hhmm(back)} 接続不可）。"
        "地震・津波の自動通知を再開しています。"
    )


# -- mail fallback (issue 15): what goes by e-mail when LINE WORKS could not deliver -------------
# Every mail says plainly that it replaces a LINE WORKS message and why; its link lets the person
# acknowledge (or answer the roll-call) in a browser. The room's copy that arrives afterwards
# says it came late and that a mail went at HH:MM.

MAIL_FROM_NAME = "災害ホットライン"
MAIL_NO_ADDRESS = "メールアドレスが登録されていません"
MAIL_BAD_ADDRESS = "メールを作れませんでした（宛先か差出人のメールアドレスの書き方が正しくありません）"
MAIL_NO_TLS = "メールサーバーが暗号化（STARTTLS）に対応していないため送れません。設定を確認してください"
MAIL_FALLBACK_HEAD = "【LINE WORKSの代わりにメールでお送りします】"
MAIL_FOOTER = "このメールは災害ホットライン（{hq}）が自動で送信しています。返信はできません。"


def mail_refused(code: int, reply: str) -> str:
    """Why the mail server refused a mail for good (5xx), for the dashboard and HQ."""
    if code in (550, 551, 553):
        return f"メールサーバーが宛先を受け付けませんでした（{code}: 宛先のアドレスを確認してください）"
    if code == 552:
        return f"メールサーバーが受け付けませんでした（{code}: 宛先のメールボックスの容量超過）"
    return f"メールサーバーが受け付けませんでした（{code}）"


def mail_why_failed(rooms: Sequence[tuple[str, str]]) -> str:
    """The reason a report goes by mail: rooms (title, reason) that failed for good."""
    listed = "、".join(f"「{title}」（{reason}）" for title, reason in rooms)
    return f"LINE WORKSのトークルーム{listed}に届けられませんでした。"


def mail_why_late(minutes: float, rooms: Sequence[str]) -> str:
    """The reason a report goes by mail: it has not reached its rooms within `minutes`."""
    listed = "、".join(f"「{title}」" for title in rooms)
    return (
        f"LINE WORKSのトークルーム{listed}に{minutes:g}分たっても届いていません"
        "（LINE WORKSに接続できないため再送中です）。"
    )


def mail_report(
    *,
    name: str,
    label: str,
    town: str,
    role: str,
    poster: str,
    created: datetime,
    text_: str,
    why: str,
    link: str,
    hq: str,
) -> tuple[str, str]:
    """(subject, body) of a report sent by mail because LINE WORKS could not deliver it."""
    subject = f"【メール代替】{town}の{label}（{hhmm(created)} 受信）"
    body = (
        f"{name} 様\n\n"
        f"{MAIL_FALLBACK_HEAD}\n{why}\n"
        "LINE WORKSが復旧すると、トークルームにも同じ報告が（遅れて届いた旨を添えて）届きます。\n\n"
        f"{report_header(label, town, role, poster)}\n{stamp(created)} 受信\n\n{text_}\n\n"
        f"読んだら、次のリンクを開いて「{ACK_LABEL}」を押してください（3日間有効）。\n{link}\n\n"
        f"{MAIL_FOOTER.format(hq=hq)}\n"
    )
    return subject, body


def mail_drill(
    *, name: str, kind: str, title: str, deadline: datetime, why: str, link: str, hq: str
) -> tuple[str, str]:
    """(subject, body) of a roll-call question sent by mail (its LINE WORKS message is 未達)."""
    head = drill_label(kind)
    subject = f"{head}【メール代替】参集確認「{title}」"
    body = (
        f"{name} 様\n\n"
        f"{head}{title}\n職員参集の確認です。{hhmm(deadline)}までに回答してください。\n\n"
        f"{MAIL_FALLBACK_HEAD}\n{why}\n\n"
        f"次のリンクを開き、あなたの安否と参集できる時刻を回答してください（3日間有効）。\n{link}\n\n"
        f"{MAIL_FOOTER.format(hq=hq)}\n"
    )
    return subject, body


MAIL_DRILL_FAILED = "LINE WORKSで質問を届けられませんでした（{reason}）。"
MAIL_DRILL_LATE = "LINE WORKSで質問が{minutes:g}分たっても届いていません（再送中です）。"


def late_mark(mailed: datetime) -> str:
    """The first line of a report's room copy, or a roll-call question, that arrives after it
    went by mail."""
    return f"【遅れて届きました】LINE WORKSで届けられなかったため、{hhmm(mailed)}にメールで送りました。\n"


# -- HQ instructions and requests (県本部からの指示・依頼) and the towns' answers -------------------
# domain/instructions. The labels are also the `reports.label` of the rows, shown on the pages.

INSTRUCTION_LABELS = {"instruction": "指示", "request": "依頼"}
ANSWER_LABEL = "回答"
ALL_TOWNS = "全市町"


def instruction_body(label: str, number: int, addressed: str, text_: str) -> str:
    """What follows the header of an instruction in the towns' rooms: its number, whom it is
    for, the text, and how to answer (a typed 【回答】 naming the number is linked to it)."""
    return (
        f"{label} #{number}　宛先: {addressed}\n\n{text_}\n\n"
        f"読んだら「{ACK_LABEL}」を押してください。回答は「【回答】#{number}」で始めて、"
        f"このトークルームに送ってください（例: 【回答】#{number} 被害はありません）。"
    )


def answer_body(instruction_label: str, number: int, sent: datetime, text_: str) -> str:
    """What follows the header of a town's 【回答】 in the HQ rooms."""
    return f"（県本部の{instruction_label} #{number}（{stamp(sent)}）への回答）\n\n{text_}"


def instruction_receipt_head(label: str, addressed: Sequence[str], no_room: Sequence[str]) -> str:
    """The first lines of the sender's receipt: the towns the instruction was addressed to (and
    any no room reaches); the rooms follow, as in a report's receipt."""
    lines = [f"{label}の宛先（{len(addressed)}市町）: " + "、".join(addressed)]
    if no_room:
        where = "、".join(no_room)
        lines.append(f"届けるトークルームがない市町: {where}（電話など別の手段で伝えてください）")
    return "\n".join(lines)


def instruction_by_form(account: str) -> str:
    """The sender's title in an instruction sent from the dashboard's form."""
    return f"（ダッシュボードから {account}）"


def instruction_not_hq(label: str) -> dict[str, Any]:
    return text(
        f"「【{label}】」は県災害対策本部の登録者だけが送れます。この投稿はどこにも送っていません。\n"
        "県本部への報告は「第一報」「続報」で、県本部からの指示への回答は「【回答】」で始めて送ってください。"
    )


def instruction_empty(label: str) -> dict[str, Any]:
    return text(
        f"「【{label}】」の後に内容を書いて、もう一度送ってください。何も送っていません。\n"
        f"例: 【{label}】宛先: 宇和島市、松野町\n避難所の開設状況を15時までに報告してください。\n"
        f"（宛先を書かなければ{ALL_TOWNS}に送ります。グループ名も使えます）"
    )


def instruction_unknown_addressees(label: str, unknown: Sequence[str]) -> dict[str, Any]:
    return text(
        f"宛先の「{'」「'.join(unknown)}」が市町名・グループ名として見つかりませんでした。"
        f"この【{label}】はどこにも送っていません。\n"
        f"市町名（例: 宇和島市）、グループ名、または「{ALL_TOWNS}」を「、」で区切って書いてください。"
    )


def answer_without_instruction() -> dict[str, Any]:
    return text(
        "回答先の県本部からの指示・依頼（24時間以内にこの市町に届いたもの）が見つからないため、"
        "この【回答】はどこにも送っていません。報告は「第一報」「続報」で始めて送ってください。"
    )


def answer_unknown_instruction(number: int) -> dict[str, Any]:
    return text(
        f"#{number} は、この市町に届いている県本部からの指示・依頼（24時間以内のもの）の番号ではないため、"
        "この【回答】はどこにも送っていません。\n"
        "指示・依頼のメッセージにある番号（例: 指示 #7）を確かめて「【回答】#7 …」のように送ってください。"
    )


def instruction_wrong_room(label: str) -> dict[str, Any]:
    return text(
        f"「【{label}】」は県本部のトークルームか、ボットとの1対1のトークで送ってください。"
        "このトークルームでの投稿はどこにも送っていません。"
    )


def answer_not_from_town() -> dict[str, Any]:
    return text("「【回答】」は市町の登録者が、県本部からの指示・依頼に答えるときに使います。")


def answer_empty() -> dict[str, Any]:
    return text("「【回答】」の後に回答の内容を書いて、もう一度送ってください。何も送っていません。")


CHANNEL_FAILURE_HEAD = (
    "【届かなかった連絡】次の連絡は、LINE WORKS以外の手段（メール・外部システムへの通知）でも"
    "届けられませんでした。電話などで確認してください。"
)
CHANNEL_FAILURE_LIMIT = 20  # lines listed in one notice; the rest are counted


def channel_failures(lines: list[str]) -> dict[str, Any]:
    """To HQ: mails and webhook calls that failed for good (domain/channel_failures.py), as
    many as fit in one message (at most CHANNEL_FAILURE_LIMIT), the rest counted."""
    body = CHANNEL_FAILURE_HEAD
    for shown, line in enumerate(lines):
        more = len(lines) - shown
        tail = f"\nほか{more}件（メールの分は災害ページのクロノロジーにあります）"
        if shown == CHANNEL_FAILURE_LIMIT or len(body) + 2 + len(line) + len(tail) > TEXT_LIMIT:
            return text(body + tail)
        body += f"\n・{line}"
    return text(body)


def failed_mail_line(town: str, name: str, address: str, phone: str, subject: str, reason: str) -> str:
    call = f"（電話 {phone}）" if phone else ""
    return f"{town} {name}さん{call}へのメール「{subject}」（{address}）: {reason}"


def failed_webhook_line(name: str, event: str, reason: str) -> str:
    return f"外部システム「{name}」への通知（{event}）: {reason}"
