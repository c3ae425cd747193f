"""JMA disaster XML (気象庁防災情報XML), received from the feed: untrusted input.

- parser.py  a telegram (VXSE51, VXSE53, VTSE41) into `domain.earthquakes.Telegram`, and the
             Atom feed into its entries; defusedxml with DTDs, entities and external
             references all forbidden, so a billion-laughs or external-entity document is refused
- intake.py  the stored telegrams, parsed and handed to `domain.earthquakes` one at a time,
             like the dispatcher does for callback events
"""

from hotline.inbound.jma.parser import FeedEntry, TelegramError, parse_feed, parse_telegram

__all__ = ["FeedEntry", "TelegramError", "parse_feed", "parse_telegram"]
