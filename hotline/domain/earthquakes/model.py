"""A JMA telegram as hotline understands it, built by `hotline.inbound.jma` from the XML.

Only what the triggers, the notices and the pages need; the raw XML stays in the
`jma_telegrams` row it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hotline.config.model import INTENSITIES, TSUNAMI_CATEGORIES

KINDS = {"VXSE51": "震度速報", "VXSE53": "震源・震度に関する情報", "VTSE41": "津波警報・注意報・予報"}
OPENED_BY = "気象庁"  # incidents.opened_by of an incident a telegram opened
REAL = "通常"  # Control/Status of a real event; 訓練 (drill) and 試験 (test) are never real


def intensity_rank(value: str | None) -> int:
    """0 for none, 1 for 震度1 ... 9 for 震度7: for comparing intensities."""
    return INTENSITIES.index(value) + 1 if value in INTENSITIES else 0


def tsunami_rank(value: str | None) -> int:
    """0 for none, 1 for 津波注意報, 2 for 津波警報, 3 for 大津波警報."""
    return TSUNAMI_CATEGORIES.index(value) + 1 if value in TSUNAMI_CATEGORIES else 0


@dataclass(frozen=True)
class Place:
    """An area or a city with the intensity JMA reports for it (VXSE51/VXSE53)."""

    code: str
    name: str
    intensity: str


@dataclass(frozen=True)
class TsunamiItem:
    """One 津波予報区 with its category (None when it is neither 注意報 nor 警報)."""

    code: str
    name: str
    category: str | None
    label: str  # JMA's own words, e.g. 「大津波警報：発表」 or 「津波予報（若干の海面変動）」


@dataclass(frozen=True)
class Telegram:
    kind: str  # VXSE51 | VXSE53 | VTSE41
    status: str  # 通常 | 訓練 | 試験
    info_type: str  # 発表 | 訂正 | 取消
    event_id: str
    serial: str
    title: str
    report_at: datetime
    origin_at: datetime | None  # when the earthquake happened (None when JMA does not say)
    headline: str
    hypocentre: str = ""
    max_intensity: str = ""
    areas: tuple[Place, ...] = ()  # 地震情報／細分区域
    cities: tuple[Place, ...] = ()  # VXSE53 only; City/Code is the municipality code's first five + "00"
    tsunami: tuple[TsunamiItem, ...] = field(default=())

    @property
    def is_real(self) -> bool:
        return self.status == REAL

    @property
    def kind_name(self) -> str:
        return KINDS.get(self.kind, self.kind)

    @property
    def dedupe_key(self) -> str:
        """The same telegram, whichever feed entry or URL brought it."""
        stamp = self.report_at.isoformat()
        return f"{self.kind}:{self.status}:{self.event_id}:{self.serial}:{self.info_type}:{stamp}"


def city_code(municipality_code: str) -> str:
    """The 7-digit code a VXSE53 City carries for a 6-digit municipality code:
    the first five digits (the check digit dropped) followed by 00 (松山市 382019 -> 3820100)."""
    return municipality_code[:5] + "00"
