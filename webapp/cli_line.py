"""`flask line richmenu`: install the two LINE rich menus (bot/richmenu.py) with their committed images.

The guest menu (開始註冊 / 平臺說明) becomes every user's default; the main menu is reachable by its
alias and linked to each verified official. Running it again replaces both menus: verified
officials are linked to the new main menu before the old menus are deleted, so nobody drops back
to the guest menu. The images are drawn by devtools/richmenu_images.py.
"""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    CreateRichMenuAliasRequest,
    MessagingApi,
    MessagingApiBlob,
    RichMenuBulkLinkRequest,
    RichMenuRequest,
    UpdateRichMenuAliasRequest,
)

from bot.richmenu import GUEST, MAIN, MENU_PREFIX, MENUS, Menu
from models.officials import STATUS_VERIFIED, Official

line_cli = AppGroup("line", help="LINE channel setup.")
BULK_LINK_MAX = 500  # user ids per bulk link request (Messaging API limit)


def _configurations(config) -> tuple[Configuration, Configuration]:
    token = config["LINE_CHANNEL_ACCESS_TOKEN"]
    data_host = (config.get("LINE_API_DATA_ENDPOINT")
                 or config["LINE_API_ENDPOINT"].replace("://api.line.me", "://api-data.line.me"))
    return (Configuration(host=config["LINE_API_ENDPOINT"], access_token=token),
            Configuration(host=data_host, access_token=token))


def _create(api: MessagingApi, blob: MessagingApiBlob, menu: Menu) -> str:
    menu_id = api.create_rich_menu(RichMenuRequest.from_dict(menu.definition())).rich_menu_id
    blob.set_rich_menu_image(menu_id, body=bytearray(menu.image_path.read_bytes()),
                             _headers={"Content-Type": "image/png"})
    try:
        api.get_rich_menu_alias(menu.alias)
    except ApiException as exc:
        if exc.status != 404:
            raise
        api.create_rich_menu_alias(CreateRichMenuAliasRequest(rich_menu_alias_id=menu.alias, rich_menu_id=menu_id))
    else:
        api.update_rich_menu_alias(menu.alias, UpdateRichMenuAliasRequest(rich_menu_id=menu_id))
    return menu_id


def verified_line_users() -> list[str]:
    return [uid for (uid,) in Official.select(Official.line_user_id)
            .where((Official.status == STATUS_VERIFIED) & Official.verified_email.is_null(False))
            .order_by(Official.id).tuples()]


@line_cli.command("richmenu")
def richmenu():
    """Create both rich menus, make the guest menu the default and link verified officials to the main menu."""
    messaging, data = _configurations(current_app.config)
    with ApiClient(messaging) as client, ApiClient(data) as data_client:
        api, blob = MessagingApi(client), MessagingApiBlob(data_client)
        old = [m.rich_menu_id for m in api.get_rich_menu_list().richmenus
               if (m.name or "").startswith(MENU_PREFIX)]
        created = {key: _create(api, blob, menu) for key, menu in MENUS.items()}
        api.set_default_rich_menu(created[GUEST.key])
        users = verified_line_users()
        for start in range(0, len(users), BULK_LINK_MAX):
            api.link_rich_menu_id_to_users(RichMenuBulkLinkRequest(
                rich_menu_id=created[MAIN.key], user_ids=users[start:start + BULK_LINK_MAX]))
        for menu_id in old:
            if menu_id not in created.values():
                api.delete_rich_menu(menu_id)
    click.echo(f"guest menu {created[GUEST.key]} is the default; main menu {created[MAIN.key]} "
               f"(alias {MAIN.alias}) linked to {len(users)} verified officials")
