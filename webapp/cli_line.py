"""`flask line richmenu`: install the main menu as the default LINE rich menu.

The menu image is drawn here (four coloured tiles with simple icons, pure Python PNG) so no image
tools or fonts are needed; an operator can pass a designed image with --image instead.
"""
from __future__ import annotations

import struct
import zlib

import click
from flask import current_app
from flask.cli import AppGroup

line_cli = AppGroup("line", help="LINE channel setup.")

WIDTH, HEIGHT = 2500, 843
TILES = [  # (label, postback action, colour, icon)
    ("提出提案", "prop.start", (6, 199, 85), "plus"),
    ("附議提案", "sec.browse", (0, 137, 123), "check"),
    ("我的提案", "prop.mine", (30, 136, 229), "list"),
    ("政策諮詢", "con.browse", (245, 124, 0), "bubble"),
    ("我的資料", "profile.show", (94, 53, 177), "person"),
]


def _icon_pixel(icon: str, x: float, y: float) -> bool:
    """Whether (x, y), in tile-relative units 0..1 around the centre, is part of the icon."""
    dx, dy = x - 0.5, y - 0.5
    if icon == "plus":
        return (abs(dx) < 0.05 and abs(dy) < 0.25) or (abs(dy) < 0.05 and abs(dx) < 0.25)
    if icon == "check":
        on_short = abs((dy - 0.05) - (dx + 0.12)) < 0.07 and -0.25 < dx < -0.05
        on_long = abs((dy - 0.05) + (dx + 0.05) * 1.3 - 0.0) < 0.08 and -0.08 < dx < 0.27
        return on_short or on_long
    if icon == "list":
        return -0.25 < dx < 0.25 and any(abs(dy - row) < 0.04 for row in (-0.17, 0.0, 0.17))
    if icon == "bubble":  # a speech bubble with a tail
        body = (dx / 0.27) ** 2 + ((dy + 0.03) / 0.17) ** 2 < 1
        tail = -0.16 < dx < -0.02 and 0.1 < dy < 0.26 and (dy - 0.1) < (dx + 0.16) * 1.1
        return body or tail
    if icon == "person":
        head = dx * dx + (dy + 0.12) ** 2 < 0.1 ** 2
        body = dy > 0.05 and dy < 0.27 and dx * dx + ((dy - 0.27) * 1.2) ** 2 < 0.24 ** 2
        return head or body
    return False


def render_menu_png(scale: int = 4) -> bytes:
    """The menu as a PNG; icons are computed on a grid `scale` times coarser, then enlarged."""
    tile_w = WIDTH // len(TILES)
    white = b"\xff\xff\xff"
    tile_rows: list[list[bytes]] = []  # per tile, per coarse row: the tile's row bytes
    for index, (_label, _action, colour, icon) in enumerate(TILES):
        width = tile_w if index < len(TILES) - 1 else WIDTH - tile_w * (len(TILES) - 1)
        fill = bytes(colour)
        rows = []
        for cy in range(0, HEIGHT, scale):
            cells = [white if _icon_pixel(icon, cx / tile_w, cy / HEIGHT) else fill for cx in range(0, width, scale)]
            row = b"".join(cell * scale for cell in cells)[: width * 3]
            rows.append(white * 4 + row[12:-12] + white * 4)
        tile_rows.append(rows)
    raw = bytearray()
    for y in range(HEIGHT):
        raw += b"\x00"
        if y < 6 or y >= HEIGHT - 6:
            raw += white * WIDTH
            continue
        for rows in tile_rows:
            raw += rows[y // scale]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw), 6))
            + chunk(b"IEND", b""))


def rich_menu_definition() -> dict:
    tile_w = WIDTH // len(TILES)
    return {
        "size": {"width": WIDTH, "height": HEIGHT}, "selected": True, "name": "platform-main-menu",
        "chatBarText": "選單：提案・附議・諮詢",
        "areas": [{"bounds": {"x": i * tile_w, "y": 0, "width": tile_w, "height": HEIGHT},
                   "action": {"type": "postback", "label": label, "data": f"a={action}", "displayText": label}}
                  for i, (label, action, _c, _i) in enumerate(TILES)],
    }


@line_cli.command("richmenu")
@click.option("--image", type=click.Path(exists=True, dir_okay=False), help="a designed 2500x843 PNG/JPEG")
def richmenu(image):
    """Create the main rich menu, upload its image and make it every user's default."""
    from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, MessagingApiBlob, RichMenuRequest

    config = current_app.config
    configuration = Configuration(host=config["LINE_API_ENDPOINT"], access_token=config["LINE_CHANNEL_ACCESS_TOKEN"])
    body = open(image, "rb").read() if image else render_menu_png()
    content_type = "image/jpeg" if image and image.lower().endswith((".jpg", ".jpeg")) else "image/png"
    with ApiClient(configuration) as client:
        api = MessagingApi(client)
        created = api.create_rich_menu(RichMenuRequest.from_dict(rich_menu_definition()))
        blob_configuration = Configuration(host=config.get("LINE_API_DATA_ENDPOINT") or
                                           config["LINE_API_ENDPOINT"].replace("://api.line.me", "://api-data.line.me"),
                                           access_token=config["LINE_CHANNEL_ACCESS_TOKEN"])
        with ApiClient(blob_configuration) as blob_client:
            MessagingApiBlob(blob_client).set_rich_menu_image(
                created.rich_menu_id, body=bytearray(body), _headers={"Content-Type": content_type})
        api.set_default_rich_menu(created.rich_menu_id)
        for old in api.get_rich_menu_list().richmenus:
            if old.rich_menu_id != created.rich_menu_id and old.name == "platform-main-menu":
                api.delete_rich_menu(old.rich_menu_id)
    click.echo(f"rich menu {created.rich_menu_id} is now the default")
