"""The Messaging API client (line-bot-sdk v3) pointed at LINE_API_ENDPOINT."""
from __future__ import annotations

from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    PushMessageRequest,
    ReplyMessageRequest,
)


def _configuration(config) -> Configuration:
    return Configuration(host=config["LINE_API_ENDPOINT"], access_token=config["LINE_CHANNEL_ACCESS_TOKEN"])


def reply_messages(config, reply_token: str, messages: list[dict]) -> None:
    with ApiClient(_configuration(config)) as client:
        MessagingApi(client).reply_message(
            ReplyMessageRequest.from_dict({"replyToken": reply_token, "messages": messages[:5]}))


def push_messages(config, to: str, messages: list[dict], retry_key: str | None = None) -> None:
    with ApiClient(_configuration(config)) as client:
        try:
            MessagingApi(client).push_message(
                PushMessageRequest.from_dict({"to": to, "messages": messages[:5]}), x_line_retry_key=retry_key)
        except ApiException as exc:
            if exc.status == 409:  # already accepted under this retry key
                return
            raise
