"""The validated configuration as frozen objects: who the people are, which municipality
supports which, and which LINE WORKS rooms serve whom.

Built by `hotline.config.load()` (the only place that checks them) and never changed: a
reload builds a new `Config`, so a report being relayed keeps the one it started with.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

MUNICIPALITY_ROLES = {
    "mayor": ("市長", "町長"),
    "deputy_mayor": ("副市長", "副町長"),
    "disaster_head": ("防災担当部長", "防災担当部長"),
    "personnel_head": ("人事担当課長", "人事担当課長"),
    "staff": ("担当職員", "担当職員"),
}
HQ_ROLES = {"hq_head": "本部長", "hq_staff": "本部員"}
ROOM_LINKS = ("hq", "group", "municipality")


def names_a_town(name: str) -> bool:
    """Whether a municipality's name is a town's or village's (町・村), whose mayor is 町長."""
    return name.endswith(("町", "村"))


@dataclass(frozen=True)
class Problem:
    """One mistake (or, in `Config.warnings`, one weakness) in the files, as `hotline check`
    prints it."""

    file: str
    line: int | None
    where: str
    found: str
    expected: str

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else self.file
        return f"{place}: {self.where}: found {self.found}; expected {self.expected}"


@dataclass(frozen=True)
class Member:
    """A person the bot knows: a municipality's registered staff or HQ staff."""

    name: str
    role: str
    email: str
    user_id: str
    municipality_code: str | None  # None for HQ members
    order: int  # position in the municipality's list: the order reminders reach them
    phone: str = ""  # optional, as written in the file (shown in HQ escalations)

    @property
    def key(self) -> str:
        """A stable identity for storage: the userId when known, else the e-mail."""
        return self.user_id or self.email


@dataclass(frozen=True)
class EscalationStep:
    """One person of a town's escalation chain and from when HQ should call them."""

    member: Member
    after_minutes: int  # minutes after the report from which this is the person to call


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str
    members: tuple[Member, ...]
    # Whom HQ calls, in order, while the town stays silent (`escalation` in counterparts.toml);
    # empty: the deputy mayor (or the first member with a phone number), as before chains.
    escalation: tuple[EscalationStep, ...] = ()

    @property
    def is_town(self) -> bool:
        return names_a_town(self.name)


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    municipalities: tuple[str, ...]


@dataclass(frozen=True)
class Counterpart:
    stricken: str
    primary: str
    secondary: tuple[str, ...]


@dataclass(frozen=True)
class Room:
    key: str  # file stem, e.g. "group-nanyo"
    title: str
    channel_id: str
    link: str  # "hq" | "group" | "municipality"
    target: str | None  # group id or municipality code
    path: Path


@dataclass(frozen=True)
class ReminderPolicy:
    """When to chase linked municipalities that have not acknowledged a report."""

    municipality_after_minutes: int = 10  # 1:1 reminders to the silent town's members
    hq_after_minutes: int = 20  # the HQ rooms get the list of towns still silent
    give_up_after_hours: int = 24  # reports older than this are not chased any more


# What a webhook may be told of (docs/WEBHOOKS.md), in the order the docs list them.
WEBHOOK_EVENTS = ("report", "instruction", "escalation", "drill_summary", "jma_trigger")


@dataclass(frozen=True)
class Webhook:
    """`[[webhooks]]`: a receiver of the prefecture's own (telephony, 防災情報システム) that
    hotline POSTs signed JSON to. The secret comes from the environment variable
    `secret_env`, read when the configuration is loaded, and never appears in repr."""

    name: str
    url: str
    events: tuple[str, ...]
    secret_env: str
    secret: str = field(repr=False, compare=False)


# JMA seismic intensities in the notation of its XML, weakest first (5- is 震度5弱).
INTENSITIES = ("1", "2", "3", "4", "5-", "5+", "6-", "6+", "7")
# The tsunami categories that may start a response, weakest first.
TSUNAMI_CATEGORIES = ("津波注意報", "津波警報", "大津波警報")


@dataclass(frozen=True)
class JmaResponse:
    """What hotline starts for each municipality a JMA telegram reaches (see docs/CONFIG.md)."""

    roll_call_roles: tuple[str, ...] = ("deputy_mayor", "disaster_head", "personnel_head", "staff")
    roll_call_supporters: bool = False  # also call in the supporters' staff (same roles)
    ask_first_report: bool = True  # a 1:1 request for a 第一報 to the town's deputy mayor
    notify_rooms: bool = True  # the notice also goes to the town's linked rooms, not only HQ
    drill_on_jma_drill: bool = False  # a JMA 訓練 telegram starts a 【訓練】 drill (else: recorded only)
    deadline_minutes: int = 60
    remind_minutes: tuple[int, ...] = (10, 20)


@dataclass(frozen=True)
class EarthquakeTrigger:
    """`[earthquake]`: intensity at or above `min_intensity` in a municipality starts a response."""

    min_intensity: str
    # 地震情報／細分区域 code -> the municipalities in it: the 震度速報 (VXSE51) names areas only
    areas: Mapping[str, tuple[str, ...]]
    response: JmaResponse


@dataclass(frozen=True)
class TsunamiTrigger:
    """`[tsunami]`: one of `categories` for a 津波予報区 starts a response in its coastal towns."""

    categories: tuple[str, ...]
    regions: Mapping[str, tuple[str, ...]]  # 津波予報区 code -> coastal municipality codes
    response: JmaResponse


@dataclass(frozen=True)
class Config:
    """The whole validated configuration. Immutable; a reload builds a new one."""

    prefecture_name: str
    prefecture_code: str
    hq_name: str
    hq_contact: str
    hq_members: tuple[Member, ...]
    municipalities: Mapping[str, Municipality]
    groups: Mapping[str, Group]
    counterparts: Mapping[str, Counterpart]
    rooms: tuple[Room, ...]
    root: Path
    reminders: ReminderPolicy
    board_id: str  # "" when no board is configured
    _members_by_identity: Mapping[str, Member] = field(repr=False, compare=False)
    earthquake: EarthquakeTrigger | None = None  # None: no [earthquake] table, JMA quakes start nothing
    tsunami: TsunamiTrigger | None = None
    webhooks: tuple[Webhook, ...] = ()
    # Weaknesses that do not stop the bot (a town in no group, a town without supporters):
    # shown by `hotline check` and the settings pages, never refused.
    warnings: tuple[Problem, ...] = ()

    def role_label(self, member: Member) -> str:
        """The Japanese title of a member, e.g. 副町長 for a town's deputy mayor."""
        if member.role in HQ_ROLES:
            return HQ_ROLES[member.role]
        city_label, town_label = MUNICIPALITY_ROLES[member.role]
        muni = self.municipalities.get(member.municipality_code or "")
        return town_label if muni is not None and muni.is_town else city_label

    def all_members(self) -> Iterator[Member]:
        yield from self.hq_members
        for muni in self.municipalities.values():
            yield from muni.members

    def webhook(self, name: str) -> Webhook | None:
        return next((w for w in self.webhooks if w.name == name), None)

    def member_by_identity(self, identity: str) -> Member | None:
        """Find a member by LINE WORKS userId or login e-mail (case-insensitive e-mail)."""
        return self._members_by_identity.get(identity) or self._members_by_identity.get(identity.lower())
