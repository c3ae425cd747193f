"""Load and validate counterparts.toml and rooms/*.toml into the frozen objects of
`hotline.config.model`.

Validation runs once, at start-up (and on `hotline check`). Every mistake is collected, not
just the first, and each names the file, the line (or the key path when no line is known),
what was found and what was expected.
"""

from __future__ import annotations

import itertools
import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from hotline.config.files import COUNTERPARTS_FILE, ROOMS_DIR, room_files
from hotline.config.model import (
    HQ_ROLES,
    INTENSITIES,
    MUNICIPALITY_ROLES,
    ROOM_LINKS,
    TSUNAMI_CATEGORIES,
    WEBHOOK_EVENTS,
    Config,
    Counterpart,
    EarthquakeTrigger,
    EscalationStep,
    Group,
    JmaResponse,
    Member,
    Municipality,
    ReminderPolicy,
    Room,
    TsunamiTrigger,
    Webhook,
)
from hotline.config.model import (
    Problem as Problem,  # re-exported: Problem lived here before model.py
)
from hotline.config.settings import is_loopback

_CODE_RE = re.compile(r"^\d{6}$")
_GROUP_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Japanese phone numbers as people write them: 0 and 9-10 more digits, hyphens between digit
# groups allowed (089-912-2000, 09012345678), or the international +81 form without the 0
# (+81-89-912-2000, +819012345678).
_PHONE_RE = re.compile(r"^(?:0\d*(?:-\d+)*|\+81-?[1-9]\d*(?:-\d+)*)$")
PHONE_EXPECTED = "a Japanese phone number: 10 or 11 digits with optional hyphens (089-912-2000), or +81"
CODE_EXPECTED = "a 6-digit municipality code with its check digit"


def check_digit(five: str) -> str:
    """The sixth digit of a 全国地方公共団体コード over its first five: weights 6,5,4,3,2, the
    sum mod 11, 11 minus the remainder, its last digit (so remainder 0 gives 1, 1 gives 0)."""
    total = sum(int(digit) * weight for digit, weight in zip(five, (6, 5, 4, 3, 2), strict=True))
    return str((11 - total % 11) % 10)


def code_problem(code: str, prefecture: str) -> tuple[str, str] | None:
    """What is wrong with a municipality code, as (found, expected), or None. `prefecture` is
    the two digits every code must start with ("" when unknown: not checked)."""
    if not _CODE_RE.match(code):
        return repr(code), CODE_EXPECTED
    if check_digit(code[:5]) != code[5]:
        return (
            f"{code} with a wrong check digit {code[5]}",
            f"the check digit computed from the first five digits ({check_digit(code[:5])})",
        )
    if prefecture and not code.startswith(prefecture):
        return (
            f"{code} of another prefecture ({code[:2]})",
            f"a code of this prefecture, starting with {prefecture} ([prefecture] code)",
        )
    return None


def phone_ok(phone: str) -> bool:
    """Whether `phone` is written as a Japanese phone number (see _PHONE_RE)."""
    if not _PHONE_RE.match(phone):
        return False
    digits = phone.replace("-", "").removeprefix("+81")
    national = digits if phone.startswith("0") else "0" + digits
    return 10 <= len(national) <= 11


# Bidirectional overrides and isolates: they make a name read differently from what it is.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
NO_CONTROLS = "text without control characters (line breaks, tabs)"


def control_character(text: str) -> str | None:
    """The first control character in `text` as U+XXXX, or None. Names, titles and keys are
    one line of text: a line break in one could reach a TOML comment or a CSV row, and a
    bidirectional override makes it read as something else."""
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI_CONTROLS:
            return f"U+{ord(ch):04X}"
    return None


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists every mistake found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# --------------------------------------------------------------------------------------
# Locating keys in TOML text. tomllib gives no positions, so we map table headers and
# `key =` lines to key paths ourselves; good enough for the files people write by hand.

_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")


class _Locator:
    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        counts: dict[tuple[Any, ...], int] = {}
        current: tuple[Any, ...] = ()
        array: tuple[Any, ...] | None = None
        index = 0
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER_RE.match(line)
            if header:
                parts = [p.strip().strip('"') for p in header.group(2).split(".")]
                # resolve every array-of-tables prefix to its latest element
                path: tuple[Any, ...] = ()
                for i, part in enumerate(parts):
                    path = (*path, part)
                    last = i == len(parts) - 1
                    if last and header.group(1) == "[[":
                        index = counts.get(path, -1) + 1
                        counts[path] = index
                        path = (*path, index)
                    elif not last and path in counts:
                        path = (*path, counts[path])
                current = path
                self.lines.setdefault(current, number)
                continue
            if array is not None:
                # inside a multi-line array: one or more elements per line
                stripped = line.split("#", 1)[0].strip()
                if stripped.startswith("]"):
                    array = None
                elif stripped:
                    values = max(1, stripped.count('"') // 2) if '"' in stripped else stripped.count(",") or 1
                    for _ in range(values):
                        self.lines.setdefault((*array, index), number)
                        index += 1
                continue
            key = _KEY_RE.match(line)
            if key:
                self.lines.setdefault((*current, key.group(1)), number)
                value = line.split("=", 1)[1].split("#", 1)[0]
                if "[" in value and "]" not in value:
                    array, index = (*current, key.group(1)), 0

    def line(self, path: tuple[Any, ...]) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def _path_text(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


class _Checker:
    """Collects problems for one file."""

    def __init__(self, file: str, text: str, problems: list[Problem]) -> None:
        self.file = file
        self.locator = _Locator(text)
        self.problems = problems

    def add(self, path: tuple[Any, ...], found: str, expected: str) -> None:
        self.problems.append(Problem(self.file, self.locator.line(path), _path_text(path), found, expected))

    def table(self, data: Any, path: tuple[Any, ...], allowed: set[str]) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.add(path, _describe(data), "a table")
            return {}
        for key in data:
            if key not in allowed:
                self.add((*path, key), f"unknown key {key!r}", f"one of {sorted(allowed)}")
        return data

    def string(
        self,
        data: Mapping[str, Any],
        path: tuple[Any, ...],
        key: str,
        *,
        required: bool = True,
        pattern: re.Pattern[str] | None = None,
        expected: str = "a non-empty string",
    ) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.add((*path, key), "nothing", expected)
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.add((*path, key), _describe(value), expected)
            return ""
        control = control_character(value)
        if control is not None:
            # The load fails on this problem; the value is still used for the other checks, so
            # that a bad name does not also read as a missing municipality everywhere.
            self.add((*path, key), f"a control character ({control}) in {value!r}", NO_CONTROLS)
        if pattern is not None and value and not pattern.match(value):
            self.add((*path, key), repr(value), expected)
            return ""
        return value.strip()

    def array(self, data: Mapping[str, Any], path: tuple[Any, ...], key: str) -> list[Any]:
        value = data.get(key)
        if value is None:
            self.add((*path, key), "nothing", "an array")
            return []
        if not isinstance(value, list):
            self.add((*path, key), _describe(value), "an array")
            return []
        return value


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if value.strip() else "an empty string"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _parse(path: Path, display: str, problems: list[Problem]) -> tuple[dict[str, Any], str] | None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(display, None, "(file)", f"it cannot be read ({exc})", "a file"))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(display, None, "(file)", f"bytes that are not UTF-8 ({exc})", "UTF-8 text"))
        return None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        problems.append(
            Problem(
                display,
                int(match.group(1)) if match else None,
                "(syntax)",
                f"malformed TOML ({exc})",
                "valid TOML",
            )
        )
        return None


def load(root: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Load `counterparts.toml` and `rooms/*.toml` under `root`; raise ConfigError listing
    every mistake. `environ` (default: the process environment) holds the webhooks' secrets."""
    root = Path(root)
    environ = os.environ if environ is None else environ
    problems: list[Problem] = []
    parsed = _parse(root / COUNTERPARTS_FILE, COUNTERPARTS_FILE, problems)
    if parsed is None:
        # Without the main file nothing else can be checked meaningfully.
        raise ConfigError(problems)
    data, text = parsed
    check = _Checker(COUNTERPARTS_FILE, text, problems)
    top = check.table(
        data,
        (),
        {"prefecture", "hq", "municipalities", "groups", "counterparts", "reminders", "board"}
        | {"earthquake", "tsunami", "webhooks"},
    )

    pref = check.table(top.get("prefecture", {}), ("prefecture",), {"name", "code"})
    pref_name = check.string(pref, ("prefecture",), "name")
    pref_code = check.string(
        pref, ("prefecture",), "code", pattern=_CODE_RE, expected="a 6-digit prefecture code"
    )
    if pref_code and check_digit(pref_code[:5]) != pref_code[5]:
        check.add(
            ("prefecture", "code"),
            f"{pref_code} with a wrong check digit {pref_code[5]}",
            f"the check digit computed from the first five digits ({check_digit(pref_code[:5])})",
        )
    # Every municipality code starts with the prefecture's two digits, taken from
    # [prefecture] code (Ehime: 380008 -> 38): no second setting to keep in step.
    pref_digits = pref_code[:2]

    identities: dict[str, tuple[str, tuple[Any, ...]]] = {}  # identity -> (owner, path)
    members_by_identity: dict[str, Member] = {}

    def member(raw: Any, path: tuple[Any, ...], owner: str, code: str | None, order: int) -> None:
        table = check.table(raw, path, {"name", "role", "email", "user_id", "phone"})
        if not table:
            return
        name = check.string(table, path, "name")
        roles = HQ_ROLES if code is None else MUNICIPALITY_ROLES
        role = check.string(table, path, "role", expected=f"a role, one of {sorted(roles)}")
        if role and role not in roles:
            check.add((*path, "role"), repr(role), f"one of {sorted(roles)}")
            role = ""
        email = check.string(
            table, path, "email", required=False, pattern=_EMAIL_RE, expected="an e-mail address"
        ).lower()
        user_id = check.string(table, path, "user_id", required=False, expected="a userId")
        if not email and not user_id:
            check.add(path, "neither email nor user_id", "a LINE WORKS identity (email or user_id)")
        phone = check.string(table, path, "phone", required=False, expected=PHONE_EXPECTED)
        if phone and not phone_ok(phone):
            check.add((*path, "phone"), repr(phone), PHONE_EXPECTED)
        if not (name and role and (email or user_id)):
            return
        person = Member(name, role, email, user_id, code, order, phone)
        for identity in (email, user_id):
            if not identity:
                continue
            if identity in identities:
                other_owner, other_path = identities[identity]
                check.add(
                    path,
                    f"{identity} already registered for {other_owner} "
                    f"(line {check.locator.line(other_path)})",
                    "each person in one municipality (or HQ) only, once",
                )
                return
        for identity in (email, user_id):
            if identity:
                identities[identity] = (owner, path)
                members_by_identity[identity] = person
        members.append(person)

    hq = check.table(top.get("hq", {}), ("hq",), {"name", "contact", "members"})
    hq_name = check.string(hq, ("hq",), "name")
    hq_contact = check.string(hq, ("hq",), "contact", required=False)
    members: list[Member] = []
    for i, raw in enumerate(check.array(hq, ("hq",), "members")):
        member(raw, ("hq", "members", i), hq_name or "HQ", None, i)
    hq_members = tuple(members)

    municipalities: dict[str, Municipality] = {}
    positions: dict[str, int] = {}  # code -> index in [[municipalities]], for warnings' lines
    names: set[str] = set()
    for i, raw in enumerate(check.array(top, (), "municipalities")):
        path: tuple[Any, ...] = ("municipalities", i)
        table = check.table(raw, path, {"code", "name", "members", "escalation"})
        code = check.string(table, path, "code", pattern=_CODE_RE, expected=CODE_EXPECTED)
        wrong = code_problem(code, pref_digits) if code else None
        if wrong is not None:
            check.add((*path, "code"), *wrong)
            code = ""
        name = check.string(table, path, "name")
        duplicate = code in municipalities
        if duplicate:
            check.add((*path, "code"), f"duplicate code {code}", "each code once")
        if name in names:
            check.add((*path, "name"), f"duplicate name {name}", "each municipality once")
        names.add(name)
        members = []
        raw_members = check.array(table, path, "members") if table else []
        if table and not raw_members and isinstance(table.get("members"), list):
            check.add((*path, "members"), "an empty list", "at least one member")
        for j, raw_member in enumerate(raw_members):
            member(raw_member, (*path, "members", j), name or code, code or "?", j)
        chain = _escalation(check, table.get("escalation"), (*path, "escalation"), members)
        if code and name and not duplicate:
            municipalities[code] = Municipality(code, name, tuple(members), chain)
            positions[code] = i

    def known_code(value: Any, path: tuple[Any, ...]) -> str | None:
        if not isinstance(value, str) or not _CODE_RE.match(value):
            check.add(path, _describe(value), "a 6-digit municipality code")
            return None
        if value not in municipalities:
            check.add(path, f"unknown municipality code {value}", "a code from [[municipalities]]")
            return None
        return value

    groups: dict[str, Group] = {}
    for i, raw in enumerate(check.array(top, (), "groups")):
        path = ("groups", i)
        table = check.table(raw, path, {"id", "name", "municipalities"})
        gid = check.string(table, path, "id", pattern=_GROUP_ID_RE, expected="a short ASCII id like 'nanyo'")
        gname = check.string(table, path, "name")
        codes: list[str] = []
        for j, value in enumerate(check.array(table, path, "municipalities") if table else []):
            code_ = known_code(value, (*path, "municipalities", j))
            if code_ and code_ in codes:
                check.add((*path, "municipalities", j), f"{code_} twice", "each code once")
            elif code_:
                codes.append(code_)
        if gid in groups:
            check.add((*path, "id"), f"duplicate group id {gid!r}", "unique group ids")
        elif gid and gname:
            groups[gid] = Group(gid, gname, tuple(codes))

    counterparts: dict[str, Counterpart] = {}
    for i, raw in enumerate(check.array(top, (), "counterparts")):
        path = ("counterparts", i)
        table = check.table(raw, path, {"stricken", "primary", "secondary"})
        if not table:
            continue
        stricken = known_code(table.get("stricken"), (*path, "stricken"))
        primary = known_code(table.get("primary"), (*path, "primary"))
        secondary: list[str] = []
        for j, value in enumerate(table.get("secondary", [])):
            code_ = known_code(value, (*path, "secondary", j))
            if code_ is None:
                continue
            if code_ == stricken:
                check.add(
                    (*path, "secondary", j),
                    f"the stricken town {code_} itself",
                    "another municipality as its supporter",
                )
            elif code_ == primary or code_ in secondary:
                check.add((*path, "secondary", j), f"{code_} listed twice", "each supporter once")
            else:
                secondary.append(code_)
        if stricken and primary == stricken:
            check.add(
                (*path, "primary"),
                f"the stricken town {stricken} itself",
                "another municipality as its primary supporter",
            )
            primary = None
        if stricken in counterparts:
            check.add(
                (*path, "stricken"),
                f"a second entry for {stricken}",
                "one [[counterparts]] entry per municipality",
            )
        elif stricken and primary:
            counterparts[stricken] = Counterpart(stricken, primary, tuple(secondary))

    warnings = _weaknesses(check, municipalities, positions, groups, counterparts)
    reminders = _reminders(check, top.get("reminders", {}))
    board = check.table(top.get("board", {}), ("board",), {"board_id"})
    board_id = check.string(board, ("board",), "board_id", required=False, expected="a boardId")
    earthquake, tsunami = _earthquake(check, top, municipalities), _tsunami(check, top, municipalities)
    webhooks = _webhooks(check, top.get("webhooks", []), environ)

    rooms = _load_rooms(root, groups, municipalities, problems)
    if problems:
        raise ConfigError(problems)
    return Config(
        prefecture_name=pref_name,
        prefecture_code=pref_code,
        hq_name=hq_name,
        hq_contact=hq_contact,
        hq_members=hq_members,
        municipalities=MappingProxyType(municipalities),
        groups=MappingProxyType(groups),
        counterparts=MappingProxyType(counterparts),
        rooms=rooms,
        root=root,
        reminders=reminders,
        board_id=board_id,
        _members_by_identity=MappingProxyType(members_by_identity),
        earthquake=earthquake,
        tsunami=tsunami,
        webhooks=webhooks,
        warnings=warnings,
    )


NO_GROUP = "no [[groups]] entry"
NO_SUPPORTERS = "no [[counterparts]] entry"


def _weaknesses(
    check: _Checker,
    municipalities: Mapping[str, Municipality],
    positions: Mapping[str, int],
    groups: Mapping[str, Group],
    counterparts: Mapping[str, Counterpart],
) -> tuple[Problem, ...]:
    """Towns that work but are weakly connected: in no group (their reports reach only HQ and
    their own rooms) or without supporters (nobody is asked to help). Warnings, not errors: a
    prefecture may be adding a town step by step."""
    grouped = {code for group in groups.values() for code in group.municipalities}
    out: list[Problem] = []
    for code, town in municipalities.items():
        missing = [
            what
            for what, absent in ((NO_GROUP, code not in grouped), (NO_SUPPORTERS, code not in counterparts))
            if absent
        ]
        if missing:
            path = ("municipalities", positions[code])
            out.append(
                Problem(
                    check.file,
                    check.locator.line(path),
                    _path_text(path),
                    f"{town.name} ({code}) with " + " and ".join(missing),
                    "a counterpart group and supporters, who hear of its reports",
                )
            )
    return tuple(out)


def _reminders(check: _Checker, raw: Any) -> ReminderPolicy:
    fields = ("municipality_after_minutes", "hq_after_minutes", "give_up_after_hours")
    table = check.table(raw, ("reminders",), set(fields))
    values: dict[str, int] = {}
    for name in fields:
        value = table.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
            check.add(("reminders", name), _describe(value), "a whole number from 1 to 10000")
        else:
            values[name] = value
    policy = ReminderPolicy(**values)
    if policy.hq_after_minutes < policy.municipality_after_minutes:
        check.add(
            ("reminders", "hq_after_minutes"),
            f"{policy.hq_after_minutes}, earlier than municipality_after_minutes",
            "HQ to hear after the towns were reminded (a larger number)",
        )
    return policy


def _load_rooms(
    root: Path,
    groups: Mapping[str, Group],
    municipalities: Mapping[str, Municipality],
    problems: list[Problem],
) -> tuple[Room, ...]:
    files = room_files(root)
    rooms: list[Room] = []
    channel_ids: dict[str, str] = {}
    for file in files:
        display = f"{ROOMS_DIR}/{file.name}"
        parsed = _parse(file, display, problems)
        if parsed is None:
            continue
        data, text = parsed
        check = _Checker(display, text, problems)
        table = check.table(data, (), {"title", "channel_id", "link", "group", "municipality"})
        title = check.string(table, (), "title")
        channel_id = check.string(table, (), "channel_id", required=False, expected="a channelId")
        link = check.string(table, (), "link", expected=f"one of {list(ROOM_LINKS)}")
        target: str | None = None
        if link and link not in ROOM_LINKS:
            check.add(("link",), repr(link), f"one of {list(ROOM_LINKS)} (what the room serves)")
            link = ""
        elif link == "group":
            target = check.string(table, (), "group", expected="the id of a [[groups]] entry")
            if target and target not in groups:
                check.add(("group",), f"unknown group {target!r}", f"one of {sorted(groups)}")
                target = None
        elif link == "municipality":
            target = check.string(table, (), "municipality", expected="a municipality code")
            if target and target not in municipalities:
                check.add(
                    ("municipality",),
                    f"unknown municipality code {target}",
                    "a code from counterparts.toml [[municipalities]]",
                )
                target = None
        if channel_id:
            if channel_id in channel_ids:
                check.add(
                    ("channel_id",),
                    f"{channel_id} already used by {channel_ids[channel_id]}",
                    "a different channelId for every room",
                )
            channel_ids[channel_id] = display
        if title and link and (link == "hq" or target):
            rooms.append(Room(file.stem, title, channel_id, link, target, file))
    if not any(room.link == "hq" for room in rooms) and not any(
        p.file.startswith(ROOMS_DIR) for p in problems
    ):
        problems.append(
            Problem(
                f"{ROOMS_DIR}/",
                None,
                "(rooms)",
                'no room with link = "hq"',
                "at least one HQ room: every report must reach the prefectural HQ",
            )
        )
    return tuple(rooms)


# --------------------------------------------------------------------------------------
# [earthquake] and [tsunami]: what a JMA telegram starts (hotline.domain.earthquakes).

_JMA_CODE_RE = re.compile(r"^\d{3}$")
_RESPONSE_KEYS = {
    "roll_call_roles",
    "roll_call_supporters",
    "ask_first_report",
    "notify_rooms",
    "drill_on_jma_drill",
    "deadline_minutes",
    "remind_minutes",
}


def _earthquake(
    check: _Checker, top: Mapping[str, Any], municipalities: Mapping[str, Municipality]
) -> EarthquakeTrigger | None:
    if "earthquake" not in top:
        return None
    path = ("earthquake",)
    table = check.table(top["earthquake"], path, {"min_intensity", "areas"} | _RESPONSE_KEYS)
    level = table.get("min_intensity")
    if level not in INTENSITIES:
        check.add((*path, "min_intensity"), _describe(level), f"a JMA intensity, one of {list(INTENSITIES)}")
        level = INTENSITIES[0]
    areas = _code_lists(check, table.get("areas", {}), (*path, "areas"), municipalities, "地震情報／細分区域")
    return EarthquakeTrigger(str(level), areas, _response(check, table, path))


def _tsunami(
    check: _Checker, top: Mapping[str, Any], municipalities: Mapping[str, Municipality]
) -> TsunamiTrigger | None:
    if "tsunami" not in top:
        return None
    path = ("tsunami",)
    table = check.table(top["tsunami"], path, {"categories", "regions"} | _RESPONSE_KEYS)
    categories: list[str] = []
    for i, value in enumerate(table.get("categories", ["大津波警報", "津波警報"])):
        if value not in TSUNAMI_CATEGORIES:
            check.add((*path, "categories", i), _describe(value), f"one of {list(TSUNAMI_CATEGORIES)}")
        elif value not in categories:
            categories.append(value)
    regions = _code_lists(check, table.get("regions", {}), (*path, "regions"), municipalities, "津波予報区")
    return TsunamiTrigger(tuple(categories), regions, _response(check, table, path))


def _code_lists(
    check: _Checker,
    raw: Any,
    path: tuple[Any, ...],
    municipalities: Mapping[str, Municipality],
    kind: str,
) -> Mapping[str, tuple[str, ...]]:
    """A table of JMA area code -> municipality codes, e.g. `620 = ["382027", ...]`."""
    if not isinstance(raw, dict):
        check.add(path, _describe(raw), f"a table of {kind} codes to municipality codes")
        return MappingProxyType({})
    result: dict[str, tuple[str, ...]] = {}
    for key, codes in raw.items():
        where = (*path, key)
        if not _JMA_CODE_RE.match(key):
            check.add(where, repr(key), f"a 3-digit {kind} code")
            continue
        if not isinstance(codes, list):
            check.add(where, _describe(codes), "an array of municipality codes")
            continue
        chosen: list[str] = []
        for j, code in enumerate(codes):
            if not isinstance(code, str) or not _CODE_RE.match(code):
                check.add((*where, j), _describe(code), "a 6-digit municipality code")
            elif code not in municipalities:
                check.add((*where, j), f"unknown municipality code {code}", "a code from [[municipalities]]")
            elif code not in chosen:
                chosen.append(code)
        result[key] = tuple(chosen)
    return MappingProxyType(result)


def _response(check: _Checker, table: Mapping[str, Any], path: tuple[Any, ...]) -> JmaResponse:
    default = JmaResponse()
    values: dict[str, Any] = {}
    roles = table.get("roll_call_roles", list(default.roll_call_roles))
    if not isinstance(roles, list) or any(r not in MUNICIPALITY_ROLES for r in roles):
        check.add(
            (*path, "roll_call_roles"),
            _describe(roles),
            f"an array of roles from {sorted(MUNICIPALITY_ROLES)}",
        )
    else:
        values["roll_call_roles"] = tuple(dict.fromkeys(roles))
    for name in ("roll_call_supporters", "ask_first_report", "notify_rooms", "drill_on_jma_drill"):
        if name in table:
            if isinstance(table[name], bool):
                values[name] = table[name]
            else:
                check.add((*path, name), _describe(table[name]), "true or false")
    deadline = table.get("deadline_minutes", default.deadline_minutes)
    if isinstance(deadline, bool) or not isinstance(deadline, int) or not 5 <= deadline <= 24 * 60:
        check.add(
            (*path, "deadline_minutes"), _describe(deadline), "a whole number of minutes from 5 to 1440"
        )
        deadline = default.deadline_minutes
    values["deadline_minutes"] = deadline
    remind = table.get("remind_minutes", list(default.remind_minutes))
    if not isinstance(remind, list) or any(
        isinstance(m, bool) or not isinstance(m, int) or not 0 < m < deadline for m in remind
    ):
        check.add(
            (*path, "remind_minutes"),
            _describe(remind),
            "an array of whole minutes after the start and before deadline_minutes",
        )
    else:
        values["remind_minutes"] = tuple(remind)
    return JmaResponse(**values)


# --------------------------------------------------------------------------------------
# Escalation outside the chat: a town's chain of people to call, and [[webhooks]].

MAX_MINUTES = 10_000


def _escalation(
    check: _Checker, raw: Any, path: tuple[Any, ...], members: Sequence[Member]
) -> tuple[EscalationStep, ...]:
    """`escalation = { chain = ["<e-mail, userId or name>", ...], after_minutes = [...] }` of
    one municipality: whom HQ calls, in order, from when (minutes after the report)."""
    if raw is None:
        return ()
    table = check.table(raw, path, {"chain", "after_minutes"})
    if not table:
        return ()
    chain, after = table.get("chain"), table.get("after_minutes")
    if not isinstance(chain, list) or not chain:
        check.add(
            (*path, "chain"), _describe(chain), "an array of this municipality's members in calling order"
        )
        return ()
    if (
        not isinstance(after, list)
        or any(isinstance(m, bool) or not isinstance(m, int) or not 0 <= m <= MAX_MINUTES for m in after)
        or len(after) != len(chain)
    ):
        check.add(
            (*path, "after_minutes"),
            repr(after) if isinstance(after, list) else _describe(after),
            f"an array of {len(chain)} whole numbers of minutes after the report (0 to {MAX_MINUTES}), "
            "one per person in chain",
        )
        return ()
    if any(later <= earlier for earlier, later in itertools.pairwise(after)):
        check.add((*path, "after_minutes"), repr(after), "minutes in increasing order (the chain advances)")
        return ()
    steps: list[EscalationStep] = []
    for j, (ref, minutes) in enumerate(zip(chain, after, strict=True)):
        where = (*path, "chain", j)
        person = _chain_member(ref, members)
        if person is None:
            check.add(
                where,
                f"{_describe(ref)}, not a member of this municipality",
                "the e-mail, user_id or name of one of its [[municipalities.members]]",
            )
        elif any(step.member == person for step in steps):
            check.add(where, f"{ref} twice", "each person once in the chain")
        elif not person.phone:
            check.add(where, f"{ref} without a phone number", 'a member with phone = "..." (HQ calls them)')
        else:
            steps.append(EscalationStep(person, minutes))
    return tuple(steps) if len(steps) == len(chain) else ()


def _chain_member(ref: Any, members: Sequence[Member]) -> Member | None:
    if not isinstance(ref, str) or not ref.strip():
        return None
    for person in members:
        if ref.lower() == person.email or (person.user_id and ref == person.user_id):
            return person
    named = [person for person in members if person.name == ref]
    return named[0] if len(named) == 1 else None


_WEBHOOK_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_SECRET_ENV_RE = re.compile(r"^HOTLINE_WEBHOOK_SECRET_[A-Z0-9_]+$")
WEBHOOK_SECRET_LENGTH = 32  # as HOTLINE_SECRET_KEY: guessing the HMAC key must be hopeless


def _webhooks(check: _Checker, raw: Any, environ: Mapping[str, str]) -> tuple[Webhook, ...]:
    if not isinstance(raw, list):
        check.add(("webhooks",), _describe(raw), "[[webhooks]] tables")
        return ()
    out: list[Webhook] = []
    for i, item in enumerate(raw):
        path = ("webhooks", i)
        table = check.table(item, path, {"name", "url", "events", "secret_env"})
        if not table:
            continue
        name = check.string(
            table, path, "name", pattern=_WEBHOOK_NAME_RE, expected="a short ASCII name like 'telephony'"
        )
        if name and any(w.name == name for w in out):
            check.add((*path, "name"), f"duplicate webhook name {name!r}", "each webhook name once")
            name = ""
        url = check.string(table, path, "url", expected="an https:// URL")
        if url and not _webhook_url_ok(url):
            check.add(
                (*path, "url"),
                repr(_without_credentials(url)),
                "an https:// URL with a host and no user:password in it (the secret goes in secret_env; "
                "plain http:// only to 127.0.0.0/8, ::1 or localhost)",
            )
            url = ""
        events = table.get("events")
        if not isinstance(events, list) or not events:
            check.add((*path, "events"), _describe(events), f"an array of events from {list(WEBHOOK_EVENTS)}")
            events = []
        chosen: list[str] = []
        for j, event in enumerate(events):
            if event not in WEBHOOK_EVENTS:
                check.add(
                    (*path, "events", j),
                    f"unknown event {_describe(event)}",
                    f"one of {list(WEBHOOK_EVENTS)}",
                )
            elif event in chosen:
                check.add((*path, "events", j), f"{event} twice", "each event once")
            else:
                chosen.append(event)
        secret_env = check.string(
            table,
            path,
            "secret_env",
            pattern=_SECRET_ENV_RE,
            expected="the name of an environment variable starting HOTLINE_WEBHOOK_SECRET_",
        )
        secret = environ.get(secret_env, "").strip() if secret_env else ""
        if secret_env and not secret:
            check.add(
                (*path, "secret_env"),
                f"{secret_env} is not set in the environment",
                "the variable set to the webhook's secret (the receiver checks the signature with it)",
            )
        elif secret_env and len(secret) < WEBHOOK_SECRET_LENGTH:
            # the length only, never the value
            check.add(
                (*path, "secret_env"),
                f"{secret_env} is too short ({len(secret)} characters)",
                f"at least {WEBHOOK_SECRET_LENGTH} random characters, e.g. "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
            )
            secret = ""
        if name and url and chosen and len(chosen) == len(events) and secret:
            out.append(Webhook(name, url, tuple(chosen), secret_env, secret))
    return tuple(out)


def _without_credentials(url: str) -> str:
    """The URL as an error may show it: a user:password in it replaced by ***."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}{sep}***@{authority.rpartition('@')[2]}{slash}{path}"


def _webhook_url_ok(url: str) -> bool:
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname or "", parts.port  # .port raises ValueError when malformed
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host))
