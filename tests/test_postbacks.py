"""The one signed-postback helper (hotline.postbacks) keeps every button already sent working:
the literals below were made by the acknowledgement and drill signers before they shared it."""

from __future__ import annotations

import pytest

from hotline import postbacks
from hotline.domain.acknowledgements import sign_postback, verify_postback
from hotline.domain.drills import parse_postback, sign

SECRET = "bot-secret-for-tests"
# Made by the old acknowledgements.sign_postback and drills.sign (commit be94082).
OLD_ACKS = {42: "ack:42:c8cad6c23b1b", 123456789012: "ack:123456789012:176b29c8bfe6"}
OLD_DRILLS = {
    (7, "safety", 0): "drill:7:safety:0:56218c140da1",
    (1234, "arrival", 4): "drill:1234:arrival:4:b770918b3f41",
}


@pytest.mark.parametrize(("report_id", "data"), OLD_ACKS.items())
def test_acknowledgement_postbacks_already_sent_still_verify(report_id: int, data: str) -> None:
    assert postbacks.verify(SECRET, data)
    check = verify_postback(SECRET, data)
    assert (check.report_id, check.problem) == (report_id, None)
    assert sign_postback(SECRET, report_id) == data == postbacks.sign(SECRET, "ack", report_id)


@pytest.mark.parametrize(("fields", "data"), OLD_DRILLS.items())
def test_drill_answer_postbacks_already_sent_still_verify(fields: tuple[int, str, int], data: str) -> None:
    assert postbacks.verify(SECRET, data)
    assert parse_postback(SECRET, data) == fields
    assert sign(SECRET, *fields) == data == postbacks.sign(SECRET, "drill", *fields)


def test_a_postback_from_another_secret_or_edited_does_not_verify() -> None:
    data = OLD_ACKS[42]
    assert not postbacks.verify("another-bots-secret", data)
    assert (
        verify_postback("another-bots-secret", data).problem
        == "acknowledgement postback with a bad signature"
    )
    assert not postbacks.verify(SECRET, data.replace("ack:42", "ack:43"))
    assert parse_postback(SECRET, OLD_DRILLS[(7, "safety", 0)].replace("safety:0", "safety:1")) is None
    for broken in ("", "ack", ":", "ack:42:", "ack:42:ｃ8cad6c23b1b", data + "0"):
        assert not postbacks.verify(SECRET, broken)
