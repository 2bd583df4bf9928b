"""The Messaging API client (line-bot-sdk v3) pointed at LINE_API_ENDPOINT."""
from __future__ import annotations

import logging
import threading

from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
)

from .richmenu import GUEST, Menu

log = logging.getLogger(__name__)


def _configuration(config) -> Configuration:
    return Configuration(host=config["LINE_API_ENDPOINT"], access_token=config["LINE_CHANNEL_ACCESS_TOKEN"])


def _messaging_api(config) -> MessagingApi:
    """This thread's client for replies and pushes, kept between calls: its HTTP connection to LINE
    stays open (a new client per message cost a TCP and TLS handshake each, the largest part of a
    reply in the worker's profile). A new endpoint or token gets a new client."""
    key = (config["LINE_API_ENDPOINT"], config["LINE_CHANNEL_ACCESS_TOKEN"])
    cached = getattr(_clients, "api", None)
    if cached is None or cached[0] != key:
        if cached is not None:
            cached[1].api_client.close()
        cached = (key, MessagingApi(ApiClient(_configuration(config))))
        _clients.api = cached
    return cached[1]


_clients = threading.local()


_JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


def _post_json(config, path: str, body: dict, headers: dict | None = None) -> None:
    """POST a Messaging API body through the SDK's own client (its authentication, its urllib3 pool,
    its ApiException on an error status), as `MessagingApi.reply_message` does, minus the round trip
    through the SDK's pydantic models: our messages are already the API's JSON (`bot.messages`), and
    building a ReplyMessageRequest from them, validating it again and serialising it back, then
    parsing the response into models nobody reads, took an eighth of a worker's CPU in the surge
    benchmark. The API validates every message itself (the stand-in as LINE does) and answers 400.
    """
    _messaging_api(config).api_client.call_api(
        path, "POST", header_params={**_JSON_HEADERS, **(headers or {})}, body=body,
        response_types_map={}, auth_settings=["Bearer"], _return_http_data_only=True)


def reply_messages(config, reply_token: str, messages: list[dict]) -> None:
    _post_json(config, "/v2/bot/message/reply", {"replyToken": reply_token, "messages": messages[:5]})


def push_messages(config, to: str, messages: list[dict], retry_key: str | None = None) -> None:
    try:
        _post_json(config, "/v2/bot/message/push", {"to": to, "messages": messages[:5]},
                   {"X-Line-Retry-Key": retry_key} if retry_key else None)
    except ApiException as exc:
        if exc.status == 409:  # already accepted under this retry key
            return
        raise


def message_quota(config) -> dict:
    """The channel's monthly push quota and what is used of it, from the Messaging API:
    {"limit": N or None (no limit), "used": M}."""
    with ApiClient(_configuration(config)) as client:
        api = MessagingApi(client)
        quota = api.get_message_quota()
        used = api.get_message_quota_consumption().total_usage
    limited = getattr(quota.type, "value", quota.type) == "limited"
    return {"limit": quota.value if limited else None, "used": used}


def show_rich_menu(config, user_id: str, menu: Menu) -> str:
    """Give this user `menu`. The guest menu is everyone's default, so it is shown by unlinking
    the user's own menu; the main menu is found by its alias (installed by `flask line richmenu`)."""
    with ApiClient(_configuration(config)) as client:
        api = MessagingApi(client)
        if menu is GUEST:
            api.unlink_rich_menu_id_from_user(user_id)
            return "default"
        try:
            menu_id = api.get_rich_menu_alias(menu.alias).rich_menu_id
        except ApiException as exc:
            if exc.status != 404:
                raise
            log.warning("rich menu alias %s is not installed; run `flask line richmenu`", menu.alias)
            return "not installed"
        api.link_rich_menu_id_to_user(user_id, menu_id)
        return menu_id
