"""When the ground shakes: what JMA's earthquake and tsunami telegrams start.

- model.py     `Telegram` as the parser (`hotline.inbound.jma`) builds it; intensity order
- response.py  `Earthquakes.act`: per town at or above the threshold, a roll-call, notices, a
               request for the 第一報 and an incident; once per event, extended, corrected,
               cancelled; never real unless the telegram's Status is 通常
- feed.py      `FeedHealth`: HQ told once when the feed has been unreachable for 10 minutes,
               and once when it is back
"""

from hotline.domain.earthquakes.feed import FeedHealth
from hotline.domain.earthquakes.model import OPENED_BY, Telegram, intensity_rank
from hotline.domain.earthquakes.response import Earthquakes, Outcome, towns_of

__all__ = ["OPENED_BY", "Earthquakes", "FeedHealth", "Outcome", "Telegram", "intensity_rank", "towns_of"]
