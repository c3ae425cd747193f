"""HQ instructions and requests (県本部からの指示・依頼): recognising them and their addressees,
sending them to the towns' rooms, and linking the towns' answers (【回答】 or a report)."""

from hotline.domain.instructions.parse import Addressees, Draft, answer_ref, parse, resolve
from hotline.domain.instructions.sending import ANSWER_KIND, Instructions, Sender, Sent, rooms_for

__all__ = [
    "ANSWER_KIND",
    "Addressees",
    "Draft",
    "Instructions",
    "Sender",
    "Sent",
    "answer_ref",
    "parse",
    "resolve",
    "rooms_for",
]
