"""Validation of bot message content, following lineworks-api.md §6 (emulator only).

The rules are the documented ones; where the docs are silent (UNCONFIRMED limits such as the
length of a message action's ``postback``) the emulator is lenient rather than inventing a rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]

MENTION_RE = re.compile(r'<m\s+userId="([^"]*)"\s*/?>')

CONTENT_TYPES = {
    "text",
    "image",
    "file",
    "link",
    "sticker",
    "button_template",
    "list_template",
    "carousel",
    "image_carousel",
    "flex",
    "audio",
    "video",
    "location",
}

# Where each action type may appear (§6 "Actions").
_TEMPLATE_ACTIONS = {"message", "uri", "copy"}
_CAROUSEL_ACTIONS = {"postback", "message", "uri", "copy"}
_QUICK_REPLY_ACTIONS = {"postback", "message", "uri", "camera", "cameraRoll", "location", "copy"}


class ContentError(ValueError):
    """A content object that LINE WORKS would reject with 400."""

    def __init__(self, description: str, code: str = "INVALID_PARAMETER") -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _require_str(obj: JSON, key: str, where: str, max_len: int | None = None) -> str:
    value = obj.get(key)
    if value is None or value == "":
        raise ContentError(f"{where}.{key} is required", "MISSING_PARAMETER")
    if not isinstance(value, str):
        raise ContentError(f"{where}.{key} must be a string")
    if max_len is not None and len(value) > max_len:
        raise ContentError(f"{where}.{key} must be at most {max_len} characters")
    return value


def _optional_str(obj: JSON, key: str, where: str, max_len: int) -> None:
    value = obj.get(key)
    if value is None:
        return
    if not isinstance(value, str):
        raise ContentError(f"{where}.{key} must be a string")
    if len(value) > max_len:
        raise ContentError(f"{where}.{key} must be at most {max_len} characters")


def _check_mentions(text: str, where: str) -> None:
    if len(MENTION_RE.findall(text)) > 50:
        raise ContentError(f"{where}: at most 50 mentions per message")


def validate_action(action: Any, where: str, allowed: set[str], *, quick_reply: bool) -> None:
    """Validate one action object and whether its type is allowed at this place."""
    if not isinstance(action, dict):
        raise ContentError(f"{where} must be an object")
    kind = action.get("type")
    if not isinstance(kind, str) or not kind:
        raise ContentError(f"{where}.type is required", "MISSING_PARAMETER")
    if kind not in _QUICK_REPLY_ACTIONS:
        raise ContentError(f"{where}.type {kind!r} is not a known action type")
    if kind not in allowed:
        raise ContentError(f"{where}: action type {kind!r} is not allowed here")
    if kind == "postback":
        if quick_reply:
            _optional_str(action, "label", where, 20)
        else:
            _require_str(action, "label", where, 20)
        _require_str(action, "data", where, 300)
        if quick_reply:
            _require_str(action, "displayText", where, 300)
        else:
            _optional_str(action, "displayText", where, 300)
    elif kind == "message":
        if not action.get("label") and not action.get("text"):
            raise ContentError(f"{where}: label or text is required", "MISSING_PARAMETER")
        for key in ("label", "text", "postback"):
            value = action.get(key)
            if value is not None and not isinstance(value, str):
                raise ContentError(f"{where}.{key} must be a string")
    elif kind == "uri":
        _require_str(action, "label", where)
        _require_str(action, "uri", where, 1000)
    elif kind == "copy":
        _require_str(action, "label", where)
        _require_str(action, "copyText", where)
    else:  # camera / cameraRoll / location (quick reply only)
        _require_str(action, "label", where)


def _validate_actions(actions: Any, where: str, max_count: int, allowed: set[str]) -> None:
    if not isinstance(actions, list) or not actions:
        raise ContentError(f"{where} must be a non-empty array", "MISSING_PARAMETER")
    if len(actions) > max_count:
        raise ContentError(f"{where}: at most {max_count} actions")
    for i, action in enumerate(actions):
        validate_action(action, f"{where}[{i}]", allowed, quick_reply=False)


def _validate_file_ref(content: JSON, where: str, file_exists: Callable[[str], bool]) -> None:
    file_id = content.get("fileId")
    if file_id is not None and (not isinstance(file_id, str) or not file_exists(file_id)):
        raise ContentError(f"{where}.fileId is unknown or not uploaded yet")


def validate_content(content: Any, file_exists: Callable[[str], bool]) -> None:
    """Raise ContentError when LINE WORKS would reject this ``content`` object."""
    if not isinstance(content, dict):
        raise ContentError("content is required", "MISSING_PARAMETER")
    kind = content.get("type")
    if not isinstance(kind, str) or not kind:
        raise ContentError("content.type is required", "MISSING_PARAMETER")
    if kind not in CONTENT_TYPES:
        raise ContentError(f"content.type {kind!r} is not supported")
    where = "content"
    if kind == "text":
        text = _require_str(content, "text", where, 2000)
        _check_mentions(text, where)
    elif kind == "image":
        if "fileId" in content:
            _validate_file_ref(content, where, file_exists)
        else:
            _require_str(content, "previewImageUrl", where, 1000)
            _require_str(content, "originalContentUrl", where, 1000)
    elif kind == "file":
        if "fileId" in content:
            _validate_file_ref(content, where, file_exists)
        else:
            _require_str(content, "originalContentUrl", where, 1000)
    elif kind == "link":
        text = _require_str(content, "contentText", where, 1000)
        _require_str(content, "linkText", where, 1000)
        _require_str(content, "link", where, 1000)
        _check_mentions(text, where)
    elif kind == "sticker":
        for key in ("packageId", "stickerId"):
            if content.get(key) in (None, ""):
                raise ContentError(f"content.{key} is required", "MISSING_PARAMETER")
    elif kind == "button_template":
        text = _require_str(content, "contentText", where, 1000)
        _check_mentions(text, where)
        _validate_actions(content.get("actions"), "content.actions", 10, _TEMPLATE_ACTIONS)
    elif kind == "list_template":
        _validate_list_template(content)
    elif kind == "carousel":
        _validate_carousel(content)
    elif kind == "flex":
        _require_str(content, "altText", where, 400)
        contents = content.get("contents")
        if not isinstance(contents, dict) or contents.get("type") not in ("bubble", "carousel"):
            raise ContentError("content.contents must be a bubble or a carousel")
        bubbles = contents.get("contents") if contents.get("type") == "carousel" else None
        if bubbles is not None and (not isinstance(bubbles, list) or len(bubbles) > 10):
            raise ContentError("content.contents: at most 10 bubbles")
    elif kind == "location":
        _require_str(content, "address", where, 100)
        for key in ("latitude", "longitude"):
            if not isinstance(content.get(key), int | float):
                raise ContentError(f"content.{key} must be a number", "MISSING_PARAMETER")
    _validate_quick_reply(content.get("quickReply"))


def _validate_list_template(content: JSON) -> None:
    elements = content.get("elements")
    if not isinstance(elements, list) or not elements:
        raise ContentError("content.elements must be a non-empty array", "MISSING_PARAMETER")
    if len(elements) > 4:
        raise ContentError("content.elements: at most 4 elements")
    for i, element in enumerate(elements):
        if not isinstance(element, dict):
            raise ContentError(f"content.elements[{i}] must be an object")
        _require_str(element, "title", f"content.elements[{i}]")
        if element.get("action") is not None:
            where = f"content.elements[{i}].action"
            validate_action(element["action"], where, _TEMPLATE_ACTIONS, quick_reply=False)
    rows = content.get("actions")
    if rows is not None:
        if not isinstance(rows, list) or len(rows) > 2:
            raise ContentError("content.actions: at most 2 rows")
        for r, row in enumerate(rows):
            _validate_actions(row, f"content.actions[{r}]", 2, _TEMPLATE_ACTIONS)


def _validate_carousel(content: JSON) -> None:
    columns = content.get("columns")
    if not isinstance(columns, list) or not columns:
        raise ContentError("content.columns must be a non-empty array", "MISSING_PARAMETER")
    if len(columns) > 10:
        raise ContentError("content.columns: at most 10 columns")
    counts = set()
    for i, column in enumerate(columns):
        if not isinstance(column, dict):
            raise ContentError(f"content.columns[{i}] must be an object")
        _require_str(column, "text", f"content.columns[{i}]", 120)
        _optional_str(column, "title", f"content.columns[{i}]", 40)
        actions = column.get("actions")
        _validate_actions(actions, f"content.columns[{i}].actions", 3, _CAROUSEL_ACTIONS)
        counts.add(len(actions or []))
    if len(counts) > 1:
        raise ContentError("content.columns: every column needs the same number of actions")


def _validate_quick_reply(quick_reply: Any) -> None:
    if quick_reply is None:
        return
    if not isinstance(quick_reply, dict):
        raise ContentError("content.quickReply must be an object")
    items = quick_reply.get("items")
    if not isinstance(items, list) or not items:
        raise ContentError("content.quickReply.items must be a non-empty array")
    if len(items) > 13:
        raise ContentError("content.quickReply.items: at most 13 items")
    for i, item in enumerate(items):
        where = f"content.quickReply.items[{i}]"
        if not isinstance(item, dict):
            raise ContentError(f"{where} must be an object")
        validate_action(item.get("action"), f"{where}.action", _QUICK_REPLY_ACTIONS, quick_reply=True)


def tappable_actions(content: JSON) -> list[JSON]:
    """The buttons of a stored bot message, in the order the talk page shows them."""
    kind = content.get("type")
    actions: list[JSON] = []
    if kind == "button_template":
        actions = list(content.get("actions") or [])
    elif kind == "list_template":
        for element in content.get("elements") or []:
            if isinstance(element, dict) and isinstance(element.get("action"), dict):
                actions.append(element["action"])
        for row in content.get("actions") or []:
            actions.extend(row or [])
    elif kind == "carousel":
        for column in content.get("columns") or []:
            actions.extend(column.get("actions") or [])
    return [a for a in actions if isinstance(a, dict)]


def quick_reply_actions(content: JSON) -> list[JSON]:
    """The quick reply actions of a stored bot message."""
    quick_reply = content.get("quickReply")
    if not isinstance(quick_reply, dict):
        return []
    return [
        item["action"]
        for item in quick_reply.get("items") or []
        if isinstance(item, dict) and isinstance(item.get("action"), dict)
    ]


def split_mentions(text: str, name_of: Callable[[str], str | None]) -> list[JSON]:
    """Split text into ``{"text": ...}`` and ``{"mention": name}`` segments for display."""
    segments: list[JSON] = []
    pos = 0
    for match in MENTION_RE.finditer(text):
        if match.start() > pos:
            segments.append({"text": text[pos : match.start()]})
        target = match.group(1)
        if target == "all":
            segments.append({"mention": "All"})
        else:
            segments.append({"mention": name_of(target) or target})
        pos = match.end()
    if pos < len(text):
        segments.append({"text": text[pos:]})
    return segments
