"""The README's worked relay example says what the sample configuration does."""

from __future__ import annotations

import re

from hotline.config import Config
from hotline.config.counterparts import linked_rooms
from tests.support.bot import ROOT


def test_the_readme_relay_example_matches_the_sample(sample_config: Config) -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    found = re.search(
        r"Example from the sample: (\S+) \((\d{6})\) is in group `(\w+)`; its primary supporter is (\S+) "
        r"and its secondary supporters are (\S+) and (\S+), which has its own room\. A report from \S+ "
        r"therefore goes to ([^.]+)\.",
        readme,
    )
    assert found, "the README's relay example is not where it was"
    name, code, group, primary, *secondary = found.groups()[:6]
    names = {c: m.name for c, m in sample_config.municipalities.items()}
    assert names[code] == name
    assert any(code in g.municipalities for g in sample_config.groups.values() if g.id == group)
    counterpart = sample_config.counterparts[code]
    assert names[counterpart.primary] == primary
    assert [names[c] for c in counterpart.secondary] == secondary
    rooms = re.findall(r"`([\w-]+)`", found.group(7))
    assert sorted(rooms) == sorted(room.key for room in linked_rooms(sample_config, code))
