"""LINE WORKS emulator — FOR DEMOS AND TESTS ONLY, NEVER FOR PRODUCTION.

A self-contained stand-in for the LINE WORKS API 2.0 over HTTP (token endpoint, Bot API,
users, boards, signed callbacks) plus a Japanese talk page at ``/`` where people can act,
a mailbox page at ``/mail`` showing what a demo mail server (``mailbox.Mailbox``) received,
and a control API under ``/_emulator/`` for tests and benchmarks. hotline only needs to be
pointed at :attr:`Emulator.api_base_url` and :attr:`Emulator.auth_url`.

It deliberately imports nothing from hotline's core modules. It has no persistence, no real
security beyond checking the JWT/token/signature rules, and it must not face the internet.

    emu = Emulator(seed)
    base = emu.start()                  # "http://127.0.0.1:PORT"
    emu.set_callback_url("http://127.0.0.1:5000/callback")
    ...
    emu.drain_callbacks(5.0)            # wait until queued callbacks were delivered
    emu.stop()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_app
from .callbacks import CallbackDispatcher, Delivery, sign
from .content import quick_reply_actions, tappable_actions
from .faults import Faults, RateLimiter
from .mailbox import Mailbox
from .state import BOT_SENDER, Room, State, iso_utc

__all__ = ["Emulator", "Mailbox", "sign"]

JSON = dict[str, Any]

# Where the talk page's "send location" button says you are (Uwajima city hall).
SAMPLE_LOCATION = {"address": "愛媛県宇和島市曙町1番地", "latitude": 33.2233, "longitude": 132.5606}


class _QuietHandler(WSGIRequestHandler):
    """Request handler that does not log every request to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip access logs."""


class Emulator:
    """The emulator: state, fault switches, callback worker, Flask app and server thread."""

    def __init__(
        self, seed: JSON, *, clock: Callable[[], float] | None = None, mailbox: Mailbox | None = None
    ) -> None:
        self.clock: Callable[[], float] = clock or time.time
        # The mail server whose messages /mail shows; its owner starts and stops it.
        self.mailbox = mailbox
        self.state = State(seed, self.clock)
        self.faults = Faults()
        self.limiter = RateLimiter(self.clock)
        self.stopping = threading.Event()
        self.callbacks = CallbackDispatcher(
            bot_id=self.state.bot_id,
            bot_secret=self.state.bot_secret,
            get_url=lambda: self.state.callback_url,
            get_timeout=lambda: self.faults.callback_timeout_seconds,
            record=self.state.record_callback,
        )
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None
        self.app: Flask = create_app(self)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the app in a daemon thread; returns the base URL ``http://HOST:PORT``."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self.stopping.clear()
        server = make_server(host, port, self.app, threaded=True, request_handler=_QuietHandler)
        self._server = server
        self.base_url = f"http://{host}:{server.server_port}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="emulator-http",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop the HTTP server and the callback worker (hanging requests are released)."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None
        self.callbacks.stop()

    @property
    def api_base_url(self) -> str:
        """What hotline gets as ``LW_API_BASE_URL``."""
        return f"{self._base()}/v1.0"

    @property
    def auth_url(self) -> str:
        """What hotline gets as ``LW_AUTH_URL``."""
        return f"{self._base()}/oauth2/v2.0/token"

    def _base(self) -> str:
        if self.base_url is None:
            raise RuntimeError("emulator not started; call start() first")
        return self.base_url

    def set_callback_url(self, url: str | None) -> None:
        """Set (or clear) the bot's callback URL."""
        with self.state.lock:
            self.state.callback_url = url

    def drain_callbacks(self, timeout: float = 10.0) -> bool:
        """Block until every queued callback was attempted; False if ``timeout`` passed."""
        return self.callbacks.drain(timeout)

    def snapshot(self) -> JSON:
        """Same as ``GET /_emulator/state``."""
        return self.state.snapshot()

    def reset(self) -> None:
        """Same as ``POST /_emulator/reset``: clear messages, logs and faults (the mailbox's too)."""
        self.callbacks.drain(self.faults.callback_timeout_seconds + 1)
        with self.state.lock:
            self.state.reset()
            self.faults = Faults()
            self.limiter.reset()
        if self.mailbox is not None:
            self.mailbox.clear()

    # --- events ------------------------------------------------------------------------

    def event(self, kind: str, room: Room, user_id: str | None, **extra: Any) -> JSON:
        """A callback event envelope as LINE WORKS builds it."""
        source: JSON = {}
        if user_id is not None:
            source["userId"] = user_id
        if room.channel_id is not None:
            source["channelId"] = room.channel_id
        elif kind == "postback" and room.dm_channel_id is not None:
            # bot-callback-postback marks source.channelId required; bot-callback-message
            # omits it in 1:1 rooms. So only postbacks name the 1:1 room.
            source["channelId"] = room.dm_channel_id
        source["domainId"] = self.state.domain_id
        return {"type": kind, "source": source, "issuedTime": iso_utc(self.clock()), **extra}

    def bot_joined(self, room: Room) -> None:
        """Queue ``join`` then ``joined`` for a room the bot created."""
        with self.state.lock:
            self.callbacks.submit(self.event("join", room, None))
            self.callbacks.submit(self.event("joined", room, None, members=list(room.members)))

    def bot_left(self, room: Room) -> None:
        """Queue ``leave`` for a room the bot left."""
        self.callbacks.submit(self.event("leave", room, None))

    def person_posts(self, user_id: str, room: Room, content: JSON) -> Delivery:
        """A person posts ``content`` in a room: store it and queue the ``message`` event."""
        with self.state.lock:
            self.state.add_message(room, user_id, content)
            return self.callbacks.submit(self.event("message", room, user_id, content=content))

    def person_taps(
        self, user_id: str, room: Room, seq: int, index: int, *, quick_reply: bool
    ) -> tuple[Delivery | None, JSON]:
        """A person taps button ``index`` (or quick reply item) of bot message ``seq``.

        Returns the queued delivery (None when the action sends nothing to the bot, e.g. a
        ``uri`` or ``copy`` action) and the action that was tapped.
        Raises LookupError when there is no such message or button.
        """
        with self.state.lock:
            msg = self.state.find_message(room, seq)
            if msg is None or msg.sender != BOT_SENDER:
                raise LookupError(f"no bot message {seq} in this room")
            actions = (quick_reply_actions if quick_reply else tappable_actions)(msg.content)
            if not 0 <= index < len(actions):
                raise LookupError(f"message {seq} has no action {index}")
            action = actions[index]
            kind = action.get("type")
            if kind == "message":
                text = action.get("text") or action.get("label") or ""
                content: JSON = {"type": "text", "text": text}
                if action.get("postback") is not None:
                    content["postback"] = action["postback"]
                return self.person_posts(user_id, room, content), action
            if kind == "postback":
                display = action.get("displayText")
                if display:
                    self.state.add_message(room, user_id, {"type": "text", "text": display})
                event = self.event("postback", room, user_id, data=action.get("data", ""))
                return self.callbacks.submit(event), action
            if kind == "location":
                where: JSON = {"type": "location", **SAMPLE_LOCATION}
                return self.person_posts(user_id, room, where), action
            return None, action
