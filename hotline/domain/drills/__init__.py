"""Staff roll-call drills (職員参集訓練) and real roll-calls (実参集).

- model.py     the kinds, the questions and their choices, DrillError, outbox priority
- targets.py   who is asked (Targets)
- schedule.py  when a drill fires: crontab in JST, fire times, unannounced windows (the one
               domain module that imports APScheduler; the drill pages ask it too)
- runner.py    the Drills service: create, cancel, run_due, fire, remind, close, abort
- answers.py   signed answer buttons, answers, comments, refusals
- results.py   summary, answer curve, CSV, the public view of a drill

Every drill message starts with 【訓練】; a real roll-call's with 【実参集】 and never 【訓練】.
"""

from hotline.domain.drills.answers import parse_postback, sign
from hotline.domain.drills.model import ARRIVAL, SAFETY, DrillError
from hotline.domain.drills.runner import Drills, send_minutes
from hotline.domain.drills.schedule import next_fire
from hotline.domain.drills.targets import Targets
from hotline.messages import send_time_text

__all__ = [
    "ARRIVAL",
    "SAFETY",
    "DrillError",
    "Drills",
    "Targets",
    "next_fire",
    "parse_postback",
    "send_minutes",
    "send_time_text",
    "sign",
]
