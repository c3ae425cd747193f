"""Reports (第一報 / 第N報 / 続報 and their photos): recognising, relaying, receipts."""

from hotline.domain.reports.receipts import Receipts
from hotline.domain.reports.relay import ATTACHMENT_KINDS, Reports, room_rows
from hotline.domain.reports.trigger import Trigger, parse_trigger

__all__ = ["ATTACHMENT_KINDS", "Receipts", "Reports", "Trigger", "parse_trigger", "room_rows"]
