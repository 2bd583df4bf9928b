"""Validation of Messaging API request bodies (messages, rich menus): LINE's documented limits and error details."""
from __future__ import annotations

from typing import Any

# --------------------------------------------------------------------------------------------
# Message validation (LINE's documented limits)
# --------------------------------------------------------------------------------------------

MESSAGE_TYPES = ("text", "textV2", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex")
ACTION_TYPES = (
    "message", "postback", "uri", "datetimepicker", "camera", "cameraRoll", "location", "richmenuswitch", "clipboard",
)


class _Errors:
    def __init__(self) -> None:
        self.details: list[dict] = []

    def add(self, prop: str, message: str) -> None:
        self.details.append({"message": message, "property": prop})

    def length(self, prop: str, value: Any, maximum: int, *, required: bool = True, minimum: int = 1) -> None:
        if value is None or value == "":
            if required:
                self.add(prop, "may not be empty")
            return
        if not isinstance(value, str):
            self.add(prop, "must be a string")
        elif not minimum <= len(value) <= maximum:
            self.add(prop, f"Length must be between {minimum} and {maximum}")

    def size(self, prop: str, value: Any, minimum: int, maximum: int) -> bool:
        if not isinstance(value, list):
            self.add(prop, "must be specified" if value is None else "must be an array")
            return False
        if not minimum <= len(value) <= maximum:
            self.add(prop, f"Size must be between {minimum} and {maximum}")
            return False
        return True


def _validate_action(errors: _Errors, prop: str, action: Any, *, label_max: int | None = 20, label_required: bool = False) -> None:
    if not isinstance(action, dict):
        errors.add(prop, "must be specified")
        return
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        errors.add(prop + ".type", f"Must be one of the following values: {list(ACTION_TYPES)}")
        return
    label = action.get("label")
    if label_max is not None and (label is not None or label_required):
        errors.length(prop + ".label", label, label_max, required=label_required)
    if kind == "message":
        errors.length(prop + ".text", action.get("text"), 300)
    elif kind == "postback":
        errors.length(prop + ".data", action.get("data"), 300)
        errors.length(prop + ".displayText", action.get("displayText"), 300, required=False)
        if action.get("displayText") and action.get("text"):
            errors.add(prop, "displayText and text cannot both be specified")
    elif kind == "uri":
        errors.length(prop + ".uri", action.get("uri"), 1000)
    elif kind == "datetimepicker":
        errors.length(prop + ".data", action.get("data"), 300)
        if action.get("mode") not in ("date", "time", "datetime"):
            errors.add(prop + ".mode", "Must be one of the following values: [date, time, datetime]")
    elif kind == "richmenuswitch":
        errors.length(prop + ".data", action.get("data"), 300)
        errors.length(prop + ".richMenuAliasId", action.get("richMenuAliasId"), 32)
    elif kind == "clipboard":
        errors.length(prop + ".clipboardText", action.get("clipboardText"), 1000)


def _validate_template(errors: _Errors, prop: str, template: Any) -> None:
    if not isinstance(template, dict):
        errors.add(prop, "must be specified")
        return
    kind = template.get("type")
    if kind == "buttons":
        errors.length(prop + ".title", template.get("title"), 40, required=False)
        small = bool(template.get("title") or template.get("thumbnailImageUrl"))
        errors.length(prop + ".text", template.get("text"), 60 if small else 160)
        if errors.size(prop + ".actions", template.get("actions"), 1, 4):
            for i, action in enumerate(template["actions"]):
                _validate_action(errors, f"{prop}.actions[{i}]", action, label_required=True)
        if "defaultAction" in template:
            _validate_action(errors, prop + ".defaultAction", template["defaultAction"])
    elif kind == "confirm":
        errors.length(prop + ".text", template.get("text"), 240)
        if errors.size(prop + ".actions", template.get("actions"), 2, 2):
            for i, action in enumerate(template["actions"]):
                _validate_action(errors, f"{prop}.actions[{i}]", action, label_required=True)
    elif kind == "carousel":
        if errors.size(prop + ".columns", template.get("columns"), 1, 10):
            counts = set()
            for i, column in enumerate(template["columns"]):
                cprop = f"{prop}.columns[{i}]"
                if not isinstance(column, dict):
                    errors.add(cprop, "must be an object")
                    continue
                errors.length(cprop + ".title", column.get("title"), 40, required=False)
                small = bool(column.get("title") or column.get("thumbnailImageUrl"))
                errors.length(cprop + ".text", column.get("text"), 60 if small else 120)
                if errors.size(cprop + ".actions", column.get("actions"), 1, 3):
                    counts.add(len(column["actions"]))
                    for j, action in enumerate(column["actions"]):
                        _validate_action(errors, f"{cprop}.actions[{j}]", action, label_required=True)
            if len(counts) > 1:
                errors.add(prop + ".columns", "every column must have the same number of actions")
    elif kind == "image_carousel":
        if errors.size(prop + ".columns", template.get("columns"), 1, 10):
            for i, column in enumerate(template["columns"]):
                errors.length(f"{prop}.columns[{i}].imageUrl", (column or {}).get("imageUrl"), 2000)
                _validate_action(errors, f"{prop}.columns[{i}].action", (column or {}).get("action"), label_max=12)
    else:
        errors.add(prop + ".type", "Must be one of the following values: [buttons, confirm, carousel, image_carousel]")


def _validate_flex_component(errors: _Errors, prop: str, comp: Any, depth: int = 0) -> None:
    if not isinstance(comp, dict) or depth > 50:
        errors.add(prop, "must be an object")
        return
    kind = comp.get("type")
    if kind == "box":
        if comp.get("layout") not in ("horizontal", "vertical", "baseline"):
            errors.add(prop + ".layout", "Must be one of the following values: [horizontal, vertical, baseline]")
        contents = comp.get("contents")
        if not isinstance(contents, list):
            errors.add(prop + ".contents", "must be specified")
        else:
            for i, child in enumerate(contents):
                _validate_flex_component(errors, f"{prop}.contents[{i}]", child, depth + 1)
    elif kind == "text":
        if not comp.get("text") and not comp.get("contents"):
            errors.add(prop + ".text", "may not be empty")
    elif kind in ("image", "icon"):
        errors.length(prop + ".url", comp.get("url"), 2000)
    elif kind == "button":
        _validate_action(errors, prop + ".action", comp.get("action"), label_max=None)
    elif kind == "video":
        errors.length(prop + ".url", comp.get("url"), 2000)
        errors.length(prop + ".previewUrl", comp.get("previewUrl"), 2000)
    elif kind not in ("separator", "filler", "spacer", "span"):
        errors.add(prop + ".type", "Must be one of the following values: [box, button, image, video, icon, text, span, separator, filler]")
        return
    if "action" in comp and kind != "button":
        _validate_action(errors, prop + ".action", comp["action"], label_max=None)


def _validate_bubble(errors: _Errors, prop: str, bubble: Any) -> None:
    if not isinstance(bubble, dict) or bubble.get("type") != "bubble":
        errors.add(prop + ".type", "Must be one of the following values: [bubble]")
        return
    for block in ("header", "hero", "body", "footer"):
        if block in bubble:
            _validate_flex_component(errors, f"{prop}.{block}", bubble[block])
    if "action" in bubble:
        _validate_action(errors, prop + ".action", bubble["action"], label_max=None)


def validate_messages(messages: Any, prop: str = "messages") -> list[dict]:
    """LINE's error details for a messages array ([] when it would be accepted)."""
    errors = _Errors()
    if not errors.size(prop, messages, 1, 5):
        return errors.details
    for i, msg in enumerate(messages):
        mprop = f"{prop}[{i}]"
        if not isinstance(msg, dict):
            errors.add(mprop, "must be an object")
            continue
        kind = msg.get("type")
        if kind not in MESSAGE_TYPES:
            errors.add(mprop + ".type", f"Must be one of the following values: {list(MESSAGE_TYPES)}")
            continue
        if kind in ("text", "textV2"):
            errors.length(mprop + ".text", msg.get("text"), 5000)
        elif kind == "sticker":
            errors.length(mprop + ".packageId", msg.get("packageId"), 100)
            errors.length(mprop + ".stickerId", msg.get("stickerId"), 100)
        elif kind in ("image", "video"):
            errors.length(mprop + ".originalContentUrl", msg.get("originalContentUrl"), 2000)
            errors.length(mprop + ".previewImageUrl", msg.get("previewImageUrl"), 2000)
        elif kind == "audio":
            errors.length(mprop + ".originalContentUrl", msg.get("originalContentUrl"), 2000)
        elif kind == "location":
            errors.length(mprop + ".title", msg.get("title"), 100)
            errors.length(mprop + ".address", msg.get("address"), 100)
        elif kind == "imagemap":
            errors.length(mprop + ".altText", msg.get("altText"), 1500)
            errors.length(mprop + ".baseUrl", msg.get("baseUrl"), 2000)
        elif kind == "template":
            errors.length(mprop + ".altText", msg.get("altText"), 400)
            _validate_template(errors, mprop + ".template", msg.get("template"))
        elif kind == "flex":
            errors.length(mprop + ".altText", msg.get("altText"), 1500)
            contents = msg.get("contents")
            if isinstance(contents, dict) and contents.get("type") == "carousel":
                if errors.size(mprop + ".contents.contents", contents.get("contents"), 1, 12):
                    for j, bubble in enumerate(contents["contents"]):
                        _validate_bubble(errors, f"{mprop}.contents.contents[{j}]", bubble)
            else:
                _validate_bubble(errors, mprop + ".contents", contents)
        if "quickReply" in msg:
            qprop = mprop + ".quickReply.items"
            items = (msg.get("quickReply") or {}).get("items")
            if errors.size(qprop, items, 1, 13):
                for j, item in enumerate(items):
                    if not isinstance(item, dict) or item.get("type") != "action":
                        errors.add(f"{qprop}[{j}].type", "Must be one of the following values: [action]")
                        continue
                    _validate_action(errors, f"{qprop}[{j}].action", item.get("action"), label_required=True)
    return errors.details


def _validate_rich_menu(menu: dict) -> list[dict]:
    errors = _Errors()
    size = menu.get("size")
    if not isinstance(size, dict) or not isinstance(size.get("width"), int) or not isinstance(size.get("height"), int):
        errors.add("size", "must be specified")
    elif not (800 <= size["width"] <= 2500 and size["height"] >= 250 and size["width"] / size["height"] >= 1.45):
        errors.add("size", "invalid rich menu size")
    if not isinstance(menu.get("selected"), bool):
        errors.add("selected", "must be specified")
    errors.length("name", menu.get("name"), 300)
    errors.length("chatBarText", menu.get("chatBarText"), 14)
    if errors.size("areas", menu.get("areas"), 0, 20):
        for i, area in enumerate(menu["areas"]):
            bounds = (area or {}).get("bounds")
            if not isinstance(bounds, dict) or not all(isinstance(bounds.get(k), int) for k in ("x", "y", "width", "height")):
                errors.add(f"areas[{i}].bounds", "must be specified")
            _validate_action(errors, f"areas[{i}].action", (area or {}).get("action"))
    return errors.details
