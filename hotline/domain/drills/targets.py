"""Who a drill asks: municipalities, roles, rooms and single members, resolved against the
configuration each time a run fires."""

from __future__ import annotations

from dataclasses import dataclass

from hotline.config import Config, Member
from hotline.config.counterparts import room_members
from hotline.domain.drills.model import DrillError


@dataclass(frozen=True)
class Targets:
    municipalities: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    rooms: tuple[str, ...] = ()
    members: tuple[str, ...] = ()  # e-mails or userIds

    def resolve(self, config: Config) -> list[Member]:
        """Everyone targeted, each once, in config order. Roles narrow the municipalities
        (all deputy mayors of these towns); roles alone mean that role everywhere."""
        chosen: dict[str, Member] = {}
        towns = self.municipalities or (tuple(config.municipalities) if self.roles else ())
        for code in towns:
            if code not in config.municipalities:
                continue  # removed from the configuration since the drill was defined
            for person in config.municipalities[code].members:
                if not self.roles or person.role in self.roles:
                    chosen.setdefault(person.key, person)
        for key in self.rooms:
            room = next((r for r in config.rooms if r.key == key), None)
            if room is None:
                continue
            for person in room_members(config, room):
                chosen.setdefault(person.key, person)
        for identity in self.members:
            found = config.member_by_identity(identity)
            if found is not None:
                chosen.setdefault(found.key, found)
        return list(chosen.values())

    def check(self, config: Config) -> None:
        unknown = [c for c in self.municipalities if c not in config.municipalities]
        unknown += [r for r in self.rooms if not any(room.key == r for room in config.rooms)]
        unknown += [m for m in self.members if config.member_by_identity(m) is None]
        if unknown:
            raise DrillError("対象に見つからないものがあります: " + "、".join(unknown))
        if not self.resolve(config):
            raise DrillError("対象者が0人です。市町・役職・部屋・職員のいずれかを指定してください。")

    def stored(self) -> dict[str, list[str]]:
        """As the drills table keeps it (JSON)."""
        return {
            "municipalities": list(self.municipalities),
            "roles": list(self.roles),
            "rooms": list(self.rooms),
            "members": list(self.members),
        }

    @classmethod
    def from_stored(cls, stored: dict[str, list[str]]) -> Targets:
        return cls(**{k: tuple(v) for k, v in stored.items()})
