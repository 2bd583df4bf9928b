"""The LINE rich menus (issue 12 item 1): two designed menus, installed by `flask line richmenu`,
linked per user as they register, are blocked and unblocked; the images are drawn by a tested script."""
from __future__ import annotations

import io

import pytest
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi
from PIL import Image

from bot import handlers  # noqa: F401 - importing the flows registers every action
from bot.registry import ACTIONS
from bot.richmenu import GUEST, MENUS, WIDTH
from devtools import richmenu_images
from models.officials import Official
from models.outbox import Outbox
from tests.factories import verified_official
from tests.fixtures_console import console_post
from tests.helpers import load_agencies, register


def _install(runner) -> dict[str, str]:
    """Run `flask line richmenu`; the installed menu ids by key (guest, main), found by alias."""
    result = runner.invoke(args=["line", "richmenu"])
    assert result.exit_code == 0, result.output
    with ApiClient(Configuration(host=runner.app.config["LINE_API_ENDPOINT"], access_token="t")) as client:
        listed = MessagingApi(client).get_rich_menu_alias_list().aliases
    return {a.rich_menu_alias_id.removeprefix("platform-"): a.rich_menu_id for a in listed}


def _menu_ids(runner) -> list[str]:
    with ApiClient(Configuration(host=runner.app.config["LINE_API_ENDPOINT"], access_token="t")) as client:
        return [m.rich_menu_id for m in MessagingApi(client).get_rich_menu_list().richmenus]


def _links(line, uid: str) -> list[tuple[str, str]]:
    """The per-user rich menu calls the service made for uid: (method, menu id or '')."""
    prefix = f"/v2/bot/user/{uid}/richmenu"
    return [(c["method"], c["path"][len(prefix) + 1:]) for c in line.calls() if c["path"].startswith(prefix)]


# --- installing -------------------------------------------------------------------------------

def test_richmenu_installs_a_guest_default_and_a_main_menu_with_their_images(runner, line):
    menus = _install(runner)
    created = [c["body"] for c in line.calls() if c["path"] == "/v2/bot/richmenu" and c["method"] == "POST"]
    assert [m["name"] for m in created] == ["platform-guest", "platform-main"]
    guest, main = created
    assert [a["action"]["label"] for a in guest["areas"]] == ["開始註冊", "平臺說明"]
    assert [a["action"]["label"] for a in main["areas"]] == ["提出提案", "附議提案", "我的提案", "我的附議",
                                                               "政策諮詢", "我的資料"]
    assert (main["size"], guest["size"]) == ({"width": 2500, "height": 1686}, {"width": 2500, "height": 843})
    for menu in created:  # every tile leads to an action the bot knows
        for area in menu["areas"]:
            action = area["action"]["data"].removeprefix("a=")
            assert action in ACTIONS, action
    # The committed images are what was uploaded, and the guest menu is everyone's default.
    for key, menu_id in menus.items():
        image, ctype = line.standin.get_bytes(f"/__standin/richmenu/{menu_id}/image")
        assert ctype.startswith("image/png") and image == MENUS[key].image_path.read_bytes()
    assert line.rich_menu()["richMenuId"] == menus["guest"]
    assert line.rich_menu(line.user())["name"] == "platform-guest"


def test_installing_again_replaces_both_menus_and_keeps_verified_officials_on_the_main_menu(runner, line):
    official = verified_official()
    blocked = verified_official(status="blocked")
    first = _install(runner)
    assert line.rich_menu(official.line_user_id)["richMenuId"] == first["main"]
    second = _install(runner)
    assert second["main"] != first["main"]
    assert line.rich_menu(official.line_user_id)["richMenuId"] == second["main"]
    assert line.rich_menu(blocked.line_user_id)["richMenuId"] == second["guest"]
    assert sorted(_menu_ids(runner)) == sorted(second.values())  # the old ones are gone


# --- linking per user -------------------------------------------------------------------------

def test_completing_registration_moves_the_user_to_the_main_menu(runner, client, line, smtp):
    load_agencies()
    menus = _install(runner)
    uid = line.user()
    line.follow(client, uid)
    assert line.rich_menu(uid)["richMenuId"] == menus["guest"]
    uid, official = register(client, line, smtp, uid)
    assert official.is_verified
    assert _links(line, uid) == [("POST", menus["main"])]
    assert line.rich_menu(uid)["name"] == "platform-main"
    assert Outbox.select().where(Outbox.channel == "richmenu").count() == 1


def test_r8_blocking_moves_the_official_back_to_the_guest_menu_and_unblocking_to_the_main_menu(
        runner, line, ops_client):
    official = verified_official()
    menus = _install(runner)
    uid = official.line_user_id
    assert line.rich_menu(uid)["richMenuId"] == menus["main"]
    detail = f"/console/officials/{official.id}"
    console_post(ops_client, f"{detail}/block", {"block-ground": "R7.3", "block-reason": "張貼人身攻擊內容"}, token_from=detail)
    assert Official.get_by_id(official.id).status == "blocked"
    assert _links(line, uid)[-1] == ("DELETE", "")
    assert line.rich_menu(uid)["richMenuId"] == menus["guest"]
    console_post(ops_client, f"{detail}/unblock", {"unblock-reason": "經查誤會已澄清"}, token_from=detail)
    assert _links(line, uid)[-1] == ("POST", menus["main"])
    assert line.rich_menu(uid)["richMenuId"] == menus["main"]
    assert Outbox.select().where((Outbox.channel == "richmenu") & (Outbox.recipient == uid)).count() == 2


def test_the_link_follows_the_status_when_sent_not_when_queued(runner, line, app):
    """Rows sent late or out of order (blocked, then unblocked at once) still end on the right menu."""
    from jobs.outbox import send_outbox
    from models.outbox import queue_rich_menu

    menus = _install(runner)
    official = verified_official(status="blocked")
    row = queue_rich_menu(official.line_user_id)
    Official.update(status="verified").where(Official.id == official.id).execute()
    assert send_outbox(row.id) == "sent"
    assert line.rich_menu(official.line_user_id)["richMenuId"] == menus["main"]


def test_without_installed_menus_registration_still_completes_and_nothing_is_retried(client, line, smtp):
    load_agencies()
    uid, official = register(client, line, smtp)
    assert official.is_verified
    row = Outbox.get(Outbox.channel == "richmenu")
    assert row.status == "sent"  # nothing to link to yet; `flask line richmenu` links verified officials later
    assert _links(line, uid) == []


def test_an_unregistered_user_tapping_a_main_menu_tile_is_told_to_register(client, line):
    uid = line.user()
    line.follow(client, uid)
    line.postback(client, uid, "a=sec.mine")
    answer = line.last(uid)
    assert "請先完成身分認證" in answer["text"]
    labels = [item["action"]["label"] for item in answer["quickReply"]["items"]]
    assert "開始註冊" in labels


# --- the images -------------------------------------------------------------------------------

@pytest.mark.parametrize("menu", list(MENUS.values()), ids=list(MENUS))
def test_menu_areas_cover_the_image_exactly_once(menu):
    areas = [a["bounds"] for a in menu.definition()["areas"]]
    assert len(areas) == len(menu.tiles)
    assert sum(b["width"] * b["height"] for b in areas) == WIDTH * menu.height
    for b in areas:
        assert b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= WIDTH and b["y"] + b["height"] <= menu.height
    covered = {(b["x"], b["y"]) for b in areas}
    assert len(covered) == len(areas)


@pytest.mark.parametrize("menu", list(MENUS.values()), ids=list(MENUS))
def test_generator_draws_one_card_per_tap_area_at_line_size(menu):
    image = richmenu_images.render(menu)
    assert image.size == (WIDTH, menu.height) and image.size in ((2500, 1686), (2500, 843))
    for bounds, tile in zip(menu.bounds(), menu.tiles, strict=True):
        x0, y0, x1, y1 = richmenu_images.card_box(bounds)
        assert bounds["x"] <= x0 < x1 <= bounds["x"] + bounds["width"]
        assert bounds["y"] <= y0 < y1 <= bounds["y"] + bounds["height"]
        # Between two cards lies the ground, inside a card its white, in its disc its colour.
        assert image.getpixel((bounds["x"] + 2, bounds["y"] + bounds["height"] // 2)) == _rgb(richmenu_images.GROUND)
        assert image.getpixel((x0 + 40, y1 - 40)) == (255, 255, 255)
        cx, cy, r = richmenu_images.disc(bounds)
        assert image.getpixel((cx + r * 9 // 10, cy)) == _rgb(tile.colour), tile.label
    data = richmenu_images.png_bytes(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 1024 * 1024


@pytest.mark.parametrize("menu", list(MENUS.values()), ids=list(MENUS))
def test_committed_images_are_the_generators_output(menu):
    committed = Image.open(io.BytesIO(menu.image_path.read_bytes()))
    assert committed.format == "PNG" and committed.size == (WIDTH, menu.height)
    assert menu.image_path.stat().st_size < 1024 * 1024
    assert richmenu_images.difference(richmenu_images.render(menu), committed) < 0.5, (
        "run python -m devtools.richmenu_images and commit the PNGs")


def test_generator_names_the_missing_font(monkeypatch):
    monkeypatch.setattr(richmenu_images, "FONT_DIRS", ("/nonexistent",))
    monkeypatch.setenv("RICHMENU_FONT_BOLD", "")
    with pytest.raises(richmenu_images.FontMissing, match="fonts-noto-cjk"):
        richmenu_images.find_font("Bold")


def _rgb(value: str) -> tuple[int, int, int]:
    return tuple(int(value[i:i + 2], 16) for i in (1, 3, 5))




def test_a_blocked_official_on_the_guest_menu_is_told_the_account_is_stopped(client, line):
    official = verified_official(status="blocked")
    uid = line.user(official.line_user_id)
    for data in (GUEST.definition()["areas"][0]["action"]["data"], "a=menu"):  # 開始註冊, then 選單
        line.postback(client, uid, data)
        answer = line.last(uid)
        assert answer["text"].startswith("您的帳號已暫停使用，事由已以 LINE 訊息及電子郵件通知您。")
        assert "rdec-platform@taichung.gov.tw" in answer["text"]  # whom to write to, to object
        assert [item["action"]["label"] for item in answer["quickReply"]["items"]] == ["平臺說明"]
    assert Official.get_by_id(official.id).status == "blocked"
