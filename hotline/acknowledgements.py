"""Acknowledgements (確認): the 「確認しました」 tap, typed words, and who has acknowledged.

LINE WORKS' bot API has no read status for talk messages (lineworks-api.md §9), so hotline
records explicit acknowledgements. The postback of every report's button carries the report
id and a short HMAC made with the bot secret, so a postback for another bot's (another
prefecture's) report, or a hand-made one, is refused and recorded, never counted.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass

from hotline.config import Config, Member
from hotline.messages import ACK_WORDS

_POSTBACK_RE = re.compile(r"^ack:(\d{1,12}):([0-9a-f]{12})$")


def sign_postback(secret: str, report_id: int) -> str:
    return f"ack:{report_id}:{_mac(secret, report_id)}"


def _mac(secret: str, report_id: int) -> str:
    return hmac.new(secret.encode(), f"ack:{report_id}".encode(), hashlib.sha256).hexdigest()[:12]


@dataclass(frozen=True)
class PostbackCheck:
    report_id: int | None
    problem: str | None  # None when valid


def verify_postback(secret: str, data: str) -> PostbackCheck:
    """Check a postback string; says what is wrong when it is not a valid ack of ours."""
    if not data.startswith("ack:"):
        return PostbackCheck(None, "not an acknowledgement postback")
    match = _POSTBACK_RE.match(data)
    if not match:
        return PostbackCheck(None, "malformed acknowledgement postback")
    report_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _mac(secret, report_id)):
        return PostbackCheck(report_id, "acknowledgement postback with a bad signature")
    return PostbackCheck(report_id, None)


def is_ack_word(text: str) -> bool:
    """Whether a typed message is one of the acknowledgement words (see messages.ACK_WORDS)."""
    word = unicodedata.normalize("NFKC", text).strip().rstrip("。.!！ ")
    return word in ACK_WORDS


@dataclass(frozen=True)
class MunicipalityAcks:
    code: str
    name: str
    acknowledged_by: list[str]  # member names, in ack order
    first_ack_at: str | None


def summarise(config: Config, codes: list[str], acks: list[dict[str, str]]) -> list[MunicipalityAcks]:
    """Per linked municipality: who acknowledged and when (a town has acknowledged once any
    one of its members has)."""
    out: list[MunicipalityAcks] = []
    for code in codes:
        muni = config.municipalities.get(code)
        mine = [a for a in acks if a.get("municipality_code") == code]
        names = [_name(config, a["member_key"]) for a in mine]
        out.append(
            MunicipalityAcks(code, muni.name if muni else code, names, mine[0]["acked_at"] if mine else None)
        )
    return out


def _name(config: Config, key: str) -> str:
    member: Member | None = config.member_by_identity(key)
    return member.name if member else key
