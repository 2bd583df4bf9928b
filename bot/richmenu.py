"""The two LINE rich menus: what each tile says, does and looks like, and where its image lives.

`guest` is every user's default (not yet registered, or blocked): 開始註冊 / 平臺說明.
`main` is linked to an official once their email is verified, and unlinked again when the
operations team blocks them (see jobs.outbox, which keeps the link in step with the status).

The images are drawn by devtools/richmenu_images.py (Pillow and a CJK font) and committed under
bot/static/richmenu/, so installing the menus needs neither Pillow nor fonts. The tiles here are
the single source of both the tap areas and the drawing, so the two cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import texts
from .messages import postback_data

IMAGE_DIR = Path(__file__).resolve().parent / "static" / "richmenu"
WIDTH = 2500
MENU_PREFIX = "platform-"  # rich menu names this service owns (older ones are replaced on install)


@dataclass(frozen=True)
class Tile:
    label: str  # shown on the image, and the tap's label and echoed text
    hint: str  # the smaller line under the label
    action: str  # bot postback action (bot.handlers.ACTIONS)
    icon: str  # devtools/richmenu_images.py draws it
    colour: str  # the icon disc, #RRGGBB


@dataclass(frozen=True)
class Menu:
    key: str  # guest | main
    alias: str  # rich menu alias id: how the service finds the installed menu again
    chat_bar: str
    columns: int
    rows: int
    height: int
    tiles: tuple[Tile, ...]

    @property
    def name(self) -> str:
        return MENU_PREFIX + self.key

    @property
    def image_path(self) -> Path:
        return IMAGE_DIR / f"{self.key}.png"

    def bounds(self) -> list[dict]:
        """Each tile's rectangle, row by row; together they cover the image exactly."""
        cols = [WIDTH * i // self.columns for i in range(self.columns + 1)]
        rows = [self.height * i // self.rows for i in range(self.rows + 1)]
        return [{"x": cols[c], "y": rows[r], "width": cols[c + 1] - cols[c], "height": rows[r + 1] - rows[r]}
                for r in range(self.rows) for c in range(self.columns)]

    def definition(self) -> dict:
        """The Messaging API rich menu object (POST /v2/bot/richmenu)."""
        return {
            "size": {"width": WIDTH, "height": self.height}, "selected": True, "name": self.name,
            "chatBarText": self.chat_bar,
            "areas": [{"bounds": bounds, "action": {"type": "postback", "label": tile.label,
                                                    "data": postback_data(tile.action), "displayText": tile.label}}
                      for bounds, tile in zip(self.bounds(), self.tiles, strict=True)],
        }


GUEST = Menu(
    key="guest", alias="platform-guest", chat_bar="開始使用", columns=2, rows=1, height=843,
    tiles=(
        Tile(texts.START_REGISTRATION, "約 2 分鐘完成身分認證", "reg.start", "register", "#0A7D4F"),
        Tile(texts.HELP_LABEL, "提案、附議怎麼進行", "menu.help", "info", "#1F5FBF"),
    ),
)

MAIN = Menu(
    key="main", alias="platform-main", chat_bar="功能選單", columns=3, rows=2, height=1686,
    tiles=(
        Tile("提出提案", "您的創新政策建議", "prop.start", "idea", "#0A7D4F"),
        Tile("附議提案", "支持同仁的好提案", "sec.browse", "second", "#00796B"),
        Tile("我的提案", "檢核與回應進度", "prop.mine", "document", "#1F5FBF"),
        Tile("我的附議", "附議紀錄與結果", "sec.mine", "checklist", "#5B3FC4"),
        Tile("政策諮詢", "對機關政策提供意見", "con.browse", "chat", "#C2410C"),
        Tile("我的資料", "聯絡資料與顯示名稱", "profile.show", "person", "#475569"),
    ),
)

MENUS = {menu.key: menu for menu in (GUEST, MAIN)}


def menu_for(status_is_verified: bool) -> Menu:
    """The menu an official should see: the main menu once verified (and not blocked)."""
    return MAIN if status_is_verified else GUEST
