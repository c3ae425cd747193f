"""Configuration: counterparts.toml and rooms/*.toml, loaded and validated into frozen objects.

- model: the frozen objects (Config, Member, Municipality, ...) and the role names
- loader: load() and its validation, every mistake a Problem with file and line
- files: which files, their fingerprint, atomic replacement (shared with rooms sync)
- counterparts: the relay rule, who hears about a report
- settings: the environment (credentials, plan, paths)
- editing: changes from the settings pages, validated before they are written
"""

from hotline.config.files import COUNTERPARTS_FILE, ROOMS_DIR, fingerprint
from hotline.config.loader import ConfigError, load
from hotline.config.model import (
    HQ_ROLES,
    MUNICIPALITY_ROLES,
    ROOM_LINKS,
    Config,
    Counterpart,
    Group,
    Member,
    Municipality,
    Problem,
    ReminderPolicy,
    Room,
)

__all__ = [
    "COUNTERPARTS_FILE",
    "HQ_ROLES",
    "MUNICIPALITY_ROLES",
    "ROOMS_DIR",
    "ROOM_LINKS",
    "Config",
    "ConfigError",
    "Counterpart",
    "Group",
    "Member",
    "Municipality",
    "Problem",
    "ReminderPolicy",
    "Room",
    "fingerprint",
    "load",
]
