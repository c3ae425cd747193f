"""The counterpart rules: which rooms a municipality's report goes to, and who belongs where."""

from __future__ import annotations

from hotline.config import Config, Member, Room


def groups_of(config: Config, code: str) -> list[str]:
    """Ids of the counterpart groups the municipality belongs to, in file order."""
    return [g.id for g in config.groups.values() if code in g.municipalities]


def supporters_of(config: Config, code: str) -> list[str]:
    """The primary supporter first, then the secondary supporters (codes)."""
    assignment = config.counterparts.get(code)
    if assignment is None:
        return []
    return [assignment.primary, *assignment.secondary]


def linked_rooms(config: Config, code: str) -> list[Room]:
    """The relay rule: every room a report from municipality `code` must reach.

    The rooms of every group the town belongs to, the rooms linked to the town itself, to
    its primary supporter and to each secondary supporter, and every HQ room; each room once,
    in that order (so the stricken town's own group room comes first and HQ last).
    """
    groups = set(groups_of(config, code))
    towns = [code, *supporters_of(config, code)]
    chosen: dict[str, Room] = {}
    for room in config.rooms:
        if room.link == "group" and room.target in groups:
            chosen.setdefault(room.key, room)
    for town in towns:
        for room in config.rooms:
            if room.link == "municipality" and room.target == town:
                chosen.setdefault(room.key, room)
    for room in config.rooms:
        if room.link == "hq":
            chosen.setdefault(room.key, room)
    return list(chosen.values())


def linked_municipalities(config: Config, code: str) -> list[str]:
    """The municipalities expected to see a report from `code`: the town itself, its
    supporters and its groups' members; in that order, each once."""
    seen: dict[str, None] = {}
    for town in [code, *supporters_of(config, code)]:
        seen.setdefault(town, None)
    for gid in groups_of(config, code):
        for town in config.groups[gid].municipalities:
            seen.setdefault(town, None)
    return list(seen)


def room_members(config: Config, room: Room) -> list[Member]:
    """Who should be in a room: HQ staff in HQ rooms; in a group room the members of every
    municipality of the group plus HQ staff; in a town's own room its members."""
    if room.link == "hq":
        return list(config.hq_members)
    if room.link == "municipality":
        return list(config.municipalities[room.target or ""].members)
    people: list[Member] = []
    for town in config.groups[room.target or ""].municipalities:
        people.extend(config.municipalities[town].members)
    people.extend(config.hq_members)
    return people


def hq_rooms(config: Config) -> list[Room]:
    return [room for room in config.rooms if room.link == "hq"]
