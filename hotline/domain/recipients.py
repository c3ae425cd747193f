"""What a report was sent to, frozen when it was relayed: the rooms, each linked town with its
relation to the reporter, and the people expected to acknowledge (HQ's too).

A chronology is the official record of a disaster: it must never change after the fact. So
the matrix, the overview, the API and the chronology read a report's recipients from the
`report_recipients` rows written with the report (`freeze`, in the relay's transaction), never
from today's configuration: a member added, a town moved to another group or a supporter
changed later leaves every past report as it was; new reports use the new configuration.
Delivery times are in the report's outbox rows, which already name their rooms.

Reports relayed before these rows existed (migration m006_report_recipients) have none: for
them `of_report` builds the same object from the running configuration, which is how every
report was shown before (and may change with the configuration, as it always did).
"""

from __future__ import annotations

import json
import sqlite3
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hotline.config import Config, Member
from hotline.config.counterparts import linked_municipalities, linked_rooms, room_members
from hotline.config.model import Room
from hotline.storage import Storage

HQ = "hq"  # the key of the prefectural HQ beside the municipality codes


def place_name(config: Config, code: str) -> str:
    """A municipality's name (HQ's for HQ); its code once it has been removed from the
    configuration."""
    if code == HQ:
        return config.hq_name
    muni = config.municipalities.get(code)
    return muni.name if muni else code


RELATION_LABELS = {
    "stricken": "被災市町",
    "primary": "一次支援市",
    "secondary": "二次支援市町",
    "group": "同じグループ",
    "addressed": "宛先",  # a town an HQ instruction was addressed to (domain.instructions)
}


def relation(config: Config, stricken: str, code: str) -> str:
    """How municipality `code` relates to a report from `stricken`."""
    if code == stricken:
        return "stricken"
    assignment = config.counterparts.get(stricken)
    if assignment is not None and code == assignment.primary:
        return "primary"
    if assignment is not None and code in assignment.secondary:
        return "secondary"
    return "group"


def reached_by(room: Room, config: Config) -> list[str]:
    """The municipality codes (and HQ) whose members a room reaches (cf. room_members)."""
    if room.link == "hq":
        return [HQ]
    if room.link == "municipality":
        return [room.target or ""]
    return [*config.groups[room.target or ""].municipalities, HQ]


@dataclass(frozen=True)
class Person:
    key: str
    name: str
    role: str  # the Japanese title at the time (副町長, ...)
    code: str | None  # the municipality; None for HQ
    user_id: str
    email: str


@dataclass(frozen=True)
class Town:
    code: str  # a municipality code, or HQ
    name: str
    relation: str  # stricken | primary | secondary | group | hq
    members: tuple[Person, ...]


@dataclass(frozen=True)
class RoomTo:
    key: str
    title: str
    reaches: tuple[str, ...]  # municipality codes (and HQ)
    members: tuple[str, ...]  # member keys


@dataclass(frozen=True)
class Recipients:
    towns: tuple[Town, ...]  # the linked municipalities, the reporting town among them
    hq: Town
    rooms: tuple[RoomTo, ...]
    frozen: bool  # False: built from today's configuration (a report older than the rows)
    _index: dict[str, Person] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Every identity of every person, lower-cased: the chronology looks up thousands of rows.
        for person in reversed(list(self.people())):
            for identity in (person.key, person.user_id, person.email):
                if identity:
                    self._index[identity.lower()] = person

    def town_name(self, code: str) -> str | None:
        found = next((t for t in (*self.towns, self.hq) if t.code == code), None)
        return found.name if found else None

    def people(self) -> Iterable[Person]:
        for town in (*self.towns, self.hq):
            yield from town.members

    def person_by_identity(self, identity: str, email: str | None = None) -> Person | None:
        """The person with this key, userId or e-mail (`email`: the cached e-mail of a userId)."""
        found = self._index.get(identity.lower())
        if found is None and email:
            found = self._index.get(email.lower())
        return found


def person_of(config: Config, member: Member) -> Person:
    return Person(
        member.key,
        member.name,
        config.role_label(member),
        member.municipality_code,
        member.user_id,
        member.email,
    )


def room_to(config: Config, room: Room) -> RoomTo:
    return RoomTo(
        room.key,
        room.title,
        tuple(reached_by(room, config)),
        tuple(m.key for m in room_members(config, room)),
    )


def from_config(config: Config, stricken: str, rooms: Sequence[Room]) -> Recipients:
    """The recipients of a report from `stricken` under `config`, sent to `rooms`."""
    towns = tuple(
        Town(
            code,
            config.municipalities[code].name,
            relation(config, stricken, code),
            tuple(person_of(config, m) for m in config.municipalities[code].members),
        )
        for code in linked_municipalities(config, stricken)
        if code in config.municipalities
    )
    hq = Town(HQ, config.hq_name, HQ, tuple(person_of(config, m) for m in config.hq_members))
    return Recipients(towns, hq, tuple(room_to(config, r) for r in rooms), frozen=False)


def freeze(storage: Storage, config: Config, report_id: int, stricken: str) -> Recipients:
    """Store what a report from `stricken` is sent to now (joins the relay's transaction)."""
    return store(storage, report_id, from_config(config, stricken, linked_rooms(config, stricken)))


def store(storage: Storage, report_id: int, found: Recipients) -> Recipients:
    """Store `found` as what the report was sent to (joins the caller's transaction); an HQ
    instruction's recipients are built by domain.instructions, a town's report's by `freeze`."""
    rows: list[tuple[str, str, str, str | None, str | None, str | None, str | None]] = []
    for room in found.rooms:
        reach = {"reaches": list(room.reaches), "members": list(room.members)}
        rows.append(("room", room.key, room.title, None, None, None, json.dumps(reach, ensure_ascii=False)))
    for town in (*found.towns, found.hq):
        rows.append(("town", town.code, town.name, None, town.relation, None, None))
        for p in town.members:
            detail = {"town": town.code, "userId": p.user_id, "email": p.email}
            rows.append(
                ("member", p.key, p.name, p.code, None, p.role, json.dumps(detail, ensure_ascii=False))
            )
    storage.save_recipients(report_id, rows)
    return Recipients(found.towns, found.hq, found.rooms, frozen=True)


def _from_rows(rows: Sequence[sqlite3.Row]) -> Recipients:
    rooms: list[RoomTo] = []
    towns: dict[str, tuple[str, str]] = {}
    members: dict[str, list[Person]] = {}
    for row in rows:
        if row["kind"] == "room":
            detail = json.loads(row["detail"])
            rooms.append(RoomTo(row["key"], row["name"], tuple(detail["reaches"]), tuple(detail["members"])))
        elif row["kind"] == "town":
            towns[row["key"]] = (row["name"], row["relation"])
        else:
            detail = json.loads(row["detail"])
            members.setdefault(detail["town"], []).append(
                Person(
                    row["key"],
                    row["name"],
                    row["role"],
                    row["municipality_code"],
                    detail["userId"],
                    detail["email"],
                )
            )
    made = [Town(code, name, rel, tuple(members.get(code, ()))) for code, (name, rel) in towns.items()]
    hq = next((t for t in made if t.code == HQ), Town(HQ, "", HQ, ()))
    return Recipients(tuple(t for t in made if t.code != HQ), hq, tuple(rooms), frozen=True)


# Frozen recipients never change once written (with their report, in one transaction), so each
# database's are remembered once read: the incident page is polled every few seconds and would
# otherwise rebuild thousands of rows per poll (50 reports x 100 people). Keyed by the Storage
# object (weakly: a closed test database takes its entries with it); a few thousand reports each.
_FROZEN: weakref.WeakKeyDictionary[Storage, dict[int, Recipients]] = weakref.WeakKeyDictionary()
_FROZEN_LIMIT = 4096


def of_report(storage: Storage, config: Config, report: sqlite3.Row) -> Recipients:
    """What `report` was sent to: its frozen rows; for a report relayed before they existed,
    today's configuration (every room, as the matrix always looked at), as before."""
    return of_incident(storage, config, [report])[report["id"]]


def of_incident(storage: Storage, config: Config, reports: Sequence[sqlite3.Row]) -> dict[int, Recipients]:
    """`of_report` for each report (one query for the frozen rows not yet remembered)."""
    known = _FROZEN.setdefault(storage, {})
    wanted = [r["id"] for r in reports if r["id"] not in known]
    by_report: dict[int, list[sqlite3.Row]] = {}
    for row in storage.recipients_of_reports(wanted) if wanted else ():
        by_report.setdefault(row["report_id"], []).append(row)
    if len(known) + len(by_report) > _FROZEN_LIMIT:
        known.clear()
    for report_id, rows in by_report.items():
        known[report_id] = _from_rows(rows)
    return {
        r["id"]: known[r["id"]]
        if r["id"] in known
        else from_config(config, r["municipality_code"], config.rooms)  # relayed before m006
        for r in reports
    }
