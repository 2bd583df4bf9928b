"""A stand-in for the LINE Messaging API, for tests and for the /dev/line simulator.

The real line-bot-sdk (``linebot.v3``) talks to it when ``Configuration(host=...)`` points here
(the app's ``LINE_API_ENDPOINT``).  It answers the paths, shapes and errors LINE documents for
what this project uses (reply, push, multicast, broadcast, profiles, rich menus and their images,
message content, the loading animation), validates messages the way LINE does, and records
every call.  Control endpoints under ``/__standin/`` let tests and the simulator register reply
tokens, read what each user received, inject failures and reset.

The package also holds the webhook side shared by the test helper (tests/fixtures_line.py) and
the simulator (webapp/dev_line.py): building LINE webhook bodies and signing them.

Modules: ``events`` (ids, webhook events and bodies, signing), ``validation`` (request bodies
checked against LINE's limits), ``server`` (the Flask app and serving it, with ``state``,
``responses``, ``richmenus`` and ``control``), ``client`` (StandinClient for the control
endpoints).  This module re-exports what the rest of the project imports.

Run alone:  python -m devtools.line_standin --port 8091
then start the app with LINE_API_ENDPOINT=http://127.0.0.1:8091
"""
from .client import StandinClient, StandinError
from .events import (
    BOT_DISPLAY_NAME,
    BOT_USER_ID,
    EVENT_KINDS,
    PLACEHOLDER_PNG,
    make_body,
    make_event,
    new_group_id,
    new_user_id,
    new_webhook_event_id,
    redelivered,
    reply_targets,
    sign,
)
from .server import create_standin_app, serve_in_thread

__all__ = [
    "BOT_DISPLAY_NAME",
    "BOT_USER_ID",
    "EVENT_KINDS",
    "PLACEHOLDER_PNG",
    "StandinClient",
    "StandinError",
    "create_standin_app",
    "make_body",
    "make_event",
    "new_group_id",
    "new_user_id",
    "new_webhook_event_id",
    "redelivered",
    "reply_targets",
    "serve_in_thread",
    "sign",
]
