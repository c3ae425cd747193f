"""JMA telegrams and the Atom feed, parsed as the untrusted input they are.

defusedxml refuses any DTD, entity declaration or external reference before a single entity
is expanded, so a billion-laughs document costs nothing and nothing is ever fetched from the
network (JMA's telegrams carry no DTD, so nothing legitimate is lost). A refused or malformed
document raises `TelegramError` with a reason that is stored beside the raw bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

import defusedxml
import defusedxml.ElementTree as SafeET

from hotline.domain.earthquakes.model import KINDS, Place, Telegram, TsunamiItem

MAX_BYTES = 5_000_000  # the largest real telegram (2024 Noto, 1,343 cities) is about 0.45 MB

NS = {
    "r": "http://xml.kishou.go.jp/jmaxml1/",
    "h": "http://xml.kishou.go.jp/jmaxml1/informationBasis1/",
    "s": "http://xml.kishou.go.jp/jmaxml1/body/seismology1/",
    "eb": "http://xml.kishou.go.jp/jmaxml1/elementBasis1/",
    "atom": "http://www.w3.org/2005/Atom",
}
# Control/Title of each kind hotline acts on (VTSE41's title ends in a lower-case "a").
_TITLES = {"震度速報": "VXSE51", "震源・震度に関する情報": "VXSE53", "津波警報・注意報・予報a": "VTSE41"}
_KIND_IN_URL = re.compile(r"(VXSE51|VXSE53|VTSE41)")
_INTENSITY = re.compile(r"^(?:[1-4]|[56][-+]|7)$")
_EVENT_ID = re.compile(r"^[0-9A-Za-z_-]{1,40}$")
# Category/Kind/Code -> category (codes of 警等情報要素／津波警報・注意報・予報)
_TSUNAMI_CODES = {"52": "大津波警報", "53": "大津波警報", "51": "津波警報", "62": "津波注意報"}
_STATUSES = ("通常", "訓練", "試験")
_INFO_TYPES = ("発表", "訂正", "取消")


class TelegramError(ValueError):
    """A document hotline refuses: hostile, malformed, too large or not a telegram it knows."""


@dataclass(frozen=True)
class FeedEntry:
    """One `entry` of JMA's Atom feed that hotline fetches."""

    kind: str
    title: str
    updated: str
    url: str


def _root(data: bytes) -> ET.Element:
    if len(data) > MAX_BYTES:
        raise TelegramError(f"too large ({len(data)} bytes; at most {MAX_BYTES})")
    try:
        root: ET.Element = SafeET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DTDForbidden:
        raise TelegramError("refused: the document declares a DTD (entity expansion is never done)") from None
    except defusedxml.EntitiesForbidden:
        raise TelegramError("refused: the document declares entities") from None
    except defusedxml.ExternalReferenceForbidden:
        raise TelegramError("refused: the document refers to an external resource") from None
    except defusedxml.DefusedXmlException as exc:
        raise TelegramError(f"refused: {exc}") from None
    except ET.ParseError as exc:
        raise TelegramError(f"malformed XML ({exc})") from None
    return root


def _text(element: ET.Element | None, path: str) -> str:
    if element is None:
        return ""
    found = element.find(path, NS)
    return (found.text or "").strip() if found is not None else ""


def _time(value: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TelegramError(f"{what} {value!r} is not a date and time") from None
    if moment.tzinfo is None:
        raise TelegramError(f"{what} {value!r} has no time zone")
    return moment


def _places(parent: ET.Element, path: str) -> tuple[Place, ...]:
    places = []
    for element in parent.findall(path, NS):
        intensity = _text(element, "s:MaxInt")
        code = _text(element, "s:Code")
        if _INTENSITY.match(intensity) and code.isdigit():
            places.append(Place(code, _text(element, "s:Name"), intensity))
    return tuple(places)


def parse_telegram(data: bytes) -> Telegram:
    """A VXSE51, VXSE53 or VTSE41 telegram; raises TelegramError for anything else."""
    root = _root(data)
    if root.tag != f"{{{NS['r']}}}Report":
        raise TelegramError(f"not a JMA report (root element {root.tag!r})")
    title = _text(root, "r:Control/r:Title")
    kind = _TITLES.get(title)
    if kind is None:
        raise TelegramError(f"a telegram hotline does not act on ({title!r})")
    status = _text(root, "r:Control/r:Status")
    if status not in _STATUSES:
        raise TelegramError(f"Control/Status {status!r}; expected one of {list(_STATUSES)}")
    head = root.find("h:Head", NS)
    info_type = _text(head, "h:InfoType")
    if info_type not in _INFO_TYPES:
        raise TelegramError(f"Head/InfoType {info_type!r}; expected one of {list(_INFO_TYPES)}")
    event_id = _text(head, "h:EventID")
    if not _EVENT_ID.match(event_id):
        raise TelegramError(f"Head/EventID {event_id!r} is not an event id")
    body = root.find("s:Body", NS)
    body = body if body is not None else ET.Element("Body")
    origin = _text(body, "s:Earthquake/s:OriginTime")
    areas: tuple[Place, ...] = ()
    cities: tuple[Place, ...] = ()
    tsunami: list[TsunamiItem] = []
    observation = body.find("s:Intensity/s:Observation", NS)
    if observation is not None:
        areas = _places(observation, "s:Pref/s:Area")
        cities = _places(observation, "s:Pref/s:Area/s:City")
    for item in body.findall("s:Tsunami/s:Forecast/s:Item", NS):
        code = _text(item, "s:Area/s:Code")
        if code.isdigit():
            tsunami.append(
                TsunamiItem(
                    code,
                    _text(item, "s:Area/s:Name"),
                    _TSUNAMI_CODES.get(_text(item, "s:Category/s:Kind/s:Code")),
                    _text(item, "s:Category/s:Kind/s:Name"),
                )
            )
    target = _text(head, "h:TargetDateTime")
    return Telegram(
        kind=kind,
        status=status,
        info_type=info_type,
        event_id=event_id,
        serial=_text(head, "h:Serial"),
        title=_text(head, "h:Title") or KINDS[kind],
        report_at=_time(_text(head, "h:ReportDateTime"), "Head/ReportDateTime"),
        # 震度速報 has no Earthquake element: its TargetDateTime is when the shaking was felt.
        origin_at=_time(origin, "OriginTime")
        if origin
        else (_time(target, "TargetDateTime") if target else None),
        headline=_text(head, "h:Headline/h:Text"),
        hypocentre=_text(body, "s:Earthquake/s:Hypocenter/s:Area/s:Name"),
        max_intensity=_text(observation, "s:MaxInt"),
        areas=areas,
        cities=cities,
        tsunami=tuple(tsunami),
    )


def parse_feed(data: bytes) -> list[FeedEntry]:
    """The entries of the Atom feed that hotline acts on (VXSE51, VXSE53, VTSE41), oldest first.

    The kind comes from the telegram's file name in the link (JMA names them ..._VXSE53_...xml)
    or else from the entry's title; entries of every other kind are left alone."""
    root = _root(data)
    if root.tag != f"{{{NS['atom']}}}feed":
        raise TelegramError(f"not an Atom feed (root element {root.tag!r})")
    titles = {name: kind for kind, name in KINDS.items()}
    titles["大津波警報・津波警報・津波注意報・津波予報"] = "VTSE41"
    entries = []
    for entry in root.findall("atom:entry", NS):
        link = next(
            (
                e.get("href", "")
                for e in entry.findall("atom:link", NS)
                if e.get("type", "application/xml") == "application/xml"
            ),
            "",
        )
        title = _text(entry, "atom:title")
        found = _KIND_IN_URL.search(link.rsplit("/", 1)[-1])
        kind = found.group(1) if found else titles.get(title)
        if kind and link.startswith(("http://", "https://")):
            entries.append(FeedEntry(kind, title, _text(entry, "atom:updated"), link))
    entries.sort(key=lambda e: _sortable(e.updated))
    return entries


def _sortable(updated: str) -> str:
    """`updated` in UTC (the feed mixes ...Z and ...+09:00), or as given when unreadable."""
    try:
        return _time(updated, "updated").astimezone(UTC).isoformat()
    except TelegramError:
        return updated
