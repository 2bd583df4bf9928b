"""Draw the LINE rich menu images (bot/static/richmenu/*.png) from the tiles in bot/richmenu.py.

    python -m devtools.richmenu_images          # rewrite the committed PNGs
    python -m devtools.richmenu_images --check  # exit 1 if they differ from a fresh drawing

Needs Pillow (the project's test extra) and Noto Sans CJK (Debian: `apt-get install
fonts-noto-cjk`). Production needs neither: `flask line richmenu` uploads the committed PNGs.

Each tile is a white card on a light grey ground: a coloured disc with a white icon drawn from
plain shapes, the zh-TW label in Noto Sans CJK TC Bold, and a one-line hint. Everything is drawn
at twice the size and scaled down, which anti-aliases the shapes.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageStat

from bot.richmenu import MENUS, WIDTH, Menu, Tile

SCALE = 2  # supersampling factor
GROUND = "#EEF1F5"
CARD = "#FFFFFF"
CARD_EDGE = "#D9DEE5"
LABEL = "#1F2937"  # 14.7:1 on white
HINT = "#4B5563"  # 7.6:1 on white
WHITE = "#FFFFFF"
GAP = 12  # between cards and around the edge, in final pixels
RADIUS = 36
FONT_DIRS = ("/usr/share/fonts/opentype/noto", "/usr/share/fonts/noto-cjk", "/usr/share/fonts/google-noto-cjk")
MAX_BYTES = 1024 * 1024  # LINE refuses a larger rich menu image


class FontMissing(RuntimeError):
    pass


def find_font(weight: str) -> tuple[str, int]:
    """The Noto Sans CJK collection file of this weight, and the index of its Traditional Chinese face."""
    candidates = [os.environ.get(f"RICHMENU_FONT_{weight.upper()}", "")]
    candidates += [str(Path(d) / f"NotoSansCJK-{weight}.ttc") for d in FONT_DIRS]
    for path in candidates:
        if not path or not Path(path).is_file():
            continue
        for index in range(10):
            try:
                face = ImageFont.truetype(path, 10, index=index)
            except OSError:
                break
            if face.getname()[0] == "Noto Sans CJK TC":
                return path, index
    raise FontMissing(f"Noto Sans CJK {weight} not found; install Debian's fonts-noto-cjk")


def _fonts(size_label: int, size_hint: int) -> tuple[ImageFont.FreeTypeFont, ImageFont.FreeTypeFont]:
    bold, bold_index = find_font("Bold")
    regular, regular_index = find_font("Regular")
    return (ImageFont.truetype(bold, size_label * SCALE, index=bold_index),
            ImageFont.truetype(regular, size_hint * SCALE, index=regular_index))


# --- layout -----------------------------------------------------------------------------------

def card_box(bounds: dict) -> tuple[int, int, int, int]:
    """The card drawn for a tap area (final pixels): the area less half a gap on each side."""
    half = GAP // 2
    x0, y0 = bounds["x"] + half, bounds["y"] + half
    x1, y1 = bounds["x"] + bounds["width"] - half, bounds["y"] + bounds["height"] - half
    return x0, y0, x1, y1


def disc(bounds: dict) -> tuple[int, int, int]:
    """The icon disc of a tile: centre x, centre y and radius (final pixels)."""
    radius = min(bounds["width"], bounds["height"]) * 19 // 100
    return bounds["x"] + bounds["width"] // 2, bounds["y"] + bounds["height"] * 36 // 100, radius


# --- icons: white shapes on the disc; (cx, cy) its centre, r its radius, all in drawing pixels ---

def _box(cx, cy, r, x0, y0, x1, y1):
    """A rectangle given in units of r around the centre."""
    return (cx + x0 * r, cy + y0 * r, cx + x1 * r, cy + y1 * r)


def _line(draw, cx, cy, r, points, width, fill=WHITE):
    """A polyline in units of r, with round joints and ends."""
    xy = [(cx + x * r, cy + y * r) for x, y in points]
    w = max(1, int(width * r))
    draw.line(xy, fill=fill, width=w, joint="curve")
    for x, y in (xy[0], xy[-1]):
        draw.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=fill)


def icon_idea(draw, cx, cy, r, colour):
    """A light bulb with rays: a new idea (提出提案)."""
    draw.ellipse(_box(cx, cy, r, -0.34, -0.52, 0.34, 0.16), fill=WHITE)
    draw.polygon([(cx - 0.24 * r, cy + 0.02 * r), (cx + 0.24 * r, cy + 0.02 * r),
                  (cx + 0.17 * r, cy + 0.30 * r), (cx - 0.17 * r, cy + 0.30 * r)], fill=WHITE)
    draw.rounded_rectangle(_box(cx, cy, r, -0.19, 0.35, 0.19, 0.44), radius=0.04 * r, fill=WHITE)
    draw.rounded_rectangle(_box(cx, cy, r, -0.13, 0.49, 0.13, 0.57), radius=0.04 * r, fill=WHITE)
    draw.arc(_box(cx, cy, r, -0.22, -0.40, 0.22, 0.04), 190, 250, fill=colour, width=max(1, int(0.06 * r)))
    for x0, y0, x1, y1 in ((0, -0.66, 0, -0.76), (-0.46, -0.46, -0.54, -0.54), (0.46, -0.46, 0.54, -0.54),
                           (-0.56, -0.14, -0.68, -0.14), (0.56, -0.14, 0.68, -0.14)):
        _line(draw, cx, cy, r, [(x0, y0), (x1, y1)], 0.07)


def icon_second(draw, cx, cy, r, colour):
    """A thumb up: support a colleague's proposal (附議提案)."""
    draw.rounded_rectangle(_box(cx, cy, r, -0.56, -0.08, -0.36, 0.50), radius=0.05 * r, fill=WHITE)
    draw.rounded_rectangle(_box(cx, cy, r, -0.28, -0.10, 0.46, 0.50), radius=0.12 * r, fill=WHITE)
    _line(draw, cx, cy, r, [(-0.18, -0.06), (-0.02, -0.30), (0.02, -0.52)], 0.20)
    for y in (0.06, 0.21, 0.36):
        _line(draw, cx, cy, r, [(0.12, y), (0.46, y)], 0.035, colour)


def icon_document(draw, cx, cy, r, colour):
    """A page with a folded corner and lines of text: the official's proposals (我的提案)."""
    fold = 0.22
    page = [(-0.40, -0.56), (0.40 - fold, -0.56), (0.40, -0.56 + fold), (0.40, 0.56), (-0.40, 0.56)]
    draw.polygon([(cx + x * r, cy + y * r) for x, y in page], fill=WHITE)
    draw.polygon([(cx + x * r, cy + y * r) for x, y in ((0.40 - fold, -0.56), (0.40 - fold, -0.56 + fold),
                                                          (0.40, -0.56 + fold))], fill=colour)
    for y, right in ((-0.22, 0.06), (-0.04, 0.24), (0.14, 0.24), (0.32, 0.24)):
        _line(draw, cx, cy, r, [(-0.24, y), (right, y)], 0.07, colour)


def icon_checklist(draw, cx, cy, r, colour):
    """A clipboard with ticked rows: the proposals one has seconded (我的附議)."""
    draw.rounded_rectangle(_box(cx, cy, r, -0.44, -0.50, 0.44, 0.60), radius=0.10 * r, fill=WHITE)
    draw.rounded_rectangle(_box(cx, cy, r, -0.20, -0.62, 0.20, -0.40), radius=0.07 * r, fill=WHITE,
                           outline=colour, width=max(1, int(0.05 * r)))
    for y in (-0.18, 0.10, 0.38):
        _line(draw, cx, cy, r, [(-0.30, y), (-0.23, y + 0.07), (-0.10, y - 0.07)], 0.06, colour)
        _line(draw, cx, cy, r, [(0.02, y), (0.30, y)], 0.06, colour)


def icon_chat(draw, cx, cy, r, colour):
    """Two speech bubbles: a consultation (政策諮詢)."""
    draw.rounded_rectangle(_box(cx, cy, r, -0.10, -0.12, 0.62, 0.40), radius=0.16 * r, fill=WHITE)
    draw.polygon([(cx + 0.36 * r, cy + 0.38 * r), (cx + 0.52 * r, cy + 0.58 * r), (cx + 0.54 * r, cy + 0.36 * r)],
                 fill=WHITE)
    draw.rounded_rectangle(_box(cx, cy, r, -0.66, -0.54, 0.20, 0.10), radius=0.18 * r, fill=WHITE,
                           outline=colour, width=max(1, int(0.06 * r)))
    draw.polygon([(cx - 0.46 * r, cy + 0.06 * r), (cx - 0.58 * r, cy + 0.30 * r), (cx - 0.26 * r, cy + 0.08 * r)],
                 fill=WHITE)
    for x in (-0.42, -0.23, -0.04):
        draw.ellipse(_box(cx, cy, r, x - 0.06, -0.28, x + 0.06, -0.16), fill=colour)


def _person(draw, cx, cy, r, dx=0.0, size=1.0):
    draw.ellipse(_box(cx, cy, r, dx - 0.22 * size, -0.50 * size, dx + 0.22 * size, -0.06 * size), fill=WHITE)
    draw.chord(_box(cx, cy, r, dx - 0.46 * size, 0.04 * size, dx + 0.46 * size, 0.96 * size), 180, 360, fill=WHITE)
    draw.rectangle(_box(cx, cy, r, dx - 0.46 * size, 0.49 * size, dx + 0.46 * size, 0.52 * size), fill=WHITE)


def icon_person(draw, cx, cy, r, colour):
    """A person: one's own details (我的資料)."""
    _person(draw, cx, cy, r)


def icon_register(draw, cx, cy, r, colour):
    """A person with a plus: sign up (開始註冊)."""
    _person(draw, cx, cy, r, dx=-0.16, size=0.92)
    _line(draw, cx, cy, r, [(0.52, -0.16), (0.52, 0.16)], 0.10)
    _line(draw, cx, cy, r, [(0.36, 0.0), (0.68, 0.0)], 0.10)


def icon_info(draw, cx, cy, r, colour):
    """An open book: how the platform works (平臺說明)."""
    for side in (-1, 1):
        page = [(0.04 * side, -0.38), (0.58 * side, -0.46), (0.58 * side, 0.38), (0.04 * side, 0.48)]
        draw.polygon([(cx + x * r, cy + y * r) for x, y in page], fill=WHITE)
        for y in (-0.22, -0.04, 0.14):
            _line(draw, cx, cy, r, [(0.16 * side, y), (0.46 * side, y - 0.03)], 0.05, colour)


ICONS = {"idea": icon_idea, "second": icon_second, "document": icon_document, "checklist": icon_checklist,
         "chat": icon_chat, "person": icon_person, "register": icon_register, "info": icon_info}


# --- drawing ----------------------------------------------------------------------------------

def _tile(draw: ImageDraw.ImageDraw, bounds: dict, tile: Tile, fonts) -> None:
    label_font, hint_font = fonts
    x0, y0, x1, y1 = (v * SCALE for v in card_box(bounds))
    draw.rounded_rectangle((x0, y0, x1, y1), radius=RADIUS * SCALE, fill=CARD, outline=CARD_EDGE, width=2 * SCALE)
    cx, cy, r = (v * SCALE for v in disc(bounds))
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tile.colour)
    ICONS[tile.icon](draw, cx, cy, r * 0.84, tile.colour)
    centre_x = (x0 + x1) // 2
    label_y = (bounds["y"] + bounds["height"] * 69 // 100) * SCALE
    hint_y = (bounds["y"] + bounds["height"] * 84 // 100) * SCALE
    draw.text((centre_x, label_y), tile.label, font=label_font, fill=LABEL, anchor="mm")
    draw.text((centre_x, hint_y), tile.hint, font=hint_font, fill=HINT, anchor="mm")


def render(menu: Menu) -> Image.Image:
    """The menu's image at LINE's size (2500 wide), one card per tap area of `menu.definition()`."""
    fonts = _fonts(118, 66)
    image = Image.new("RGB", (WIDTH * SCALE, menu.height * SCALE), GROUND)
    draw = ImageDraw.Draw(image)
    for bounds, tile in zip(menu.bounds(), menu.tiles, strict=True):
        _tile(draw, bounds, tile, fonts)
    return image.resize((WIDTH, menu.height), Image.Resampling.LANCZOS)


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    data = out.getvalue()
    if len(data) > MAX_BYTES:
        raise ValueError(f"rich menu image is {len(data)} bytes; LINE accepts at most {MAX_BYTES}")
    return data


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel (0–255): font rasterisers differ slightly by version."""
    if a.size != b.size:
        return 255.0
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed images instead of writing")
    args = parser.parse_args(argv)
    stale = 0
    for menu in MENUS.values():
        image = render(menu)
        if args.check:
            committed = Image.open(menu.image_path) if menu.image_path.is_file() else Image.new("RGB", (1, 1))
            if difference(image, committed) > 0.5:
                print(f"{menu.image_path} is out of date: run python -m devtools.richmenu_images", file=sys.stderr)
                stale += 1
            continue
        menu.image_path.parent.mkdir(parents=True, exist_ok=True)
        menu.image_path.write_bytes(png_bytes(image))
        print(f"wrote {menu.image_path} ({image.width}x{image.height})")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
