"""Towns, people, rooms and the first report that tests pick from the sample configuration."""

from __future__ import annotations

from hotline.config import Config, Member

UWAJIMA = "382035"  # the stricken city in these tests
REPORT = "第一報 午前3時頃から大雨、市内3か所で土砂崩れ、人的被害確認中"


def member(config: Config, code: str, role: str = "deputy_mayor") -> Member:
    return next(m for m in config.municipalities[code].members if m.role == role)


def members(config: Config, code: str = UWAJIMA) -> list[Member]:
    return list(config.municipalities[code].members)


def room(config: Config, key: str) -> str:
    return next(r.channel_id for r in config.rooms if r.key == key)
