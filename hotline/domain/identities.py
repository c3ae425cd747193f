"""Who is behind a LINE WORKS userId?

Callbacks name people by userId; the configuration names them by e-mail (and sometimes by
userId). A userId not in the configuration is looked up once through the users API and the
answer cached in `identities`, so the next event from that person needs no call.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from hotline.clock import Clock, iso, parse_iso
from hotline.config import Config, Member
from hotline.outbound.client import LineWorksClient, LineWorksError
from hotline.storage import Storage

log = logging.getLogger(__name__)

# A lookup that found no e-mail is cached only this long, so a member whose lookup failed once
# (a scope not yet granted, say) is not refused for good.
IDENTITY_RETRY = timedelta(minutes=10)


class RetryLater(Exception):
    """LINE WORKS cannot answer now: keep the event and try again."""


class Identities:
    def __init__(self, storage: Storage, client: LineWorksClient, clock: Clock) -> None:
        self.storage = storage
        self.client = client
        self.clock = clock

    def resolve(self, user_id: str, config: Config) -> Member | None:
        """The member behind a userId: from the config, the cached directory lookup, or the
        users API (whose answer is cached). RetryLater when LINE WORKS cannot answer now."""
        member = config.member_by_identity(user_id)
        if member is not None:
            return member
        cached = self.storage.identity(user_id)
        now = self.clock.now()
        if cached is None or (
            not cached["email"] and now - parse_iso(cached["resolved_at"]) > IDENTITY_RETRY
        ):
            try:
                user = self.client.get_user(user_id)
            except LineWorksError as exc:
                if exc.retryable:
                    raise RetryLater(str(exc)) from None
                if exc.status != 404:
                    log.error(
                        "users API refused to look up %s: %s (is the user.read scope granted?)", user_id, exc
                    )
                user = {}
            email = str(user.get("email") or "").lower() or None if isinstance(user, dict) else None
            names = user.get("userName") if isinstance(user, dict) else None
            names = names if isinstance(names, dict) else {}
            name = f"{names.get('lastName', '')} {names.get('firstName', '')}".strip() or None
            self.storage.save_identity(user_id, email, name, iso(now))
            cached = self.storage.identity(user_id)
        if cached is not None and cached["email"]:
            return config.member_by_identity(cached["email"])
        return None
