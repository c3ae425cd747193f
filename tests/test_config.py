"""Configuration: the sample passes; every kind of mistake is reported with file and line,
all of them in one run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hotline.cli import main as cli
from hotline.config import ConfigError, load
from hotline.config.settings import SettingsError, plan_from_env
from tests.support.bot import ROOT, credentials_env


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "counterparts.toml", tmp_path / "counterparts.toml")
    shutil.copytree(ROOT / "rooms", tmp_path / "rooms")
    return tmp_path


def edit(path: Path, old: str, new: str, count: int = 1) -> int:
    """Replace text and return the 1-based line number where the change landed."""
    text = path.read_text()
    assert old in text, old
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, count))
    return line


def problems(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(root)
    return [str(p) for p in info.value.problems]


def test_sample_configuration_passes_hotline_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--config", str(ROOT), "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: 愛媛県, 20 municipalities, 3 groups, 20 counterpart assignments")


def test_sample_has_real_ehime_codes_and_plausible_members() -> None:
    config = load(ROOT)
    assert config.municipalities["382035"].name == "宇和島市"
    assert config.municipalities["385069"].name == "愛南町"
    assert all(code.startswith("38") for code in config.municipalities)
    assert all(4 <= len(m.members) <= 5 for m in config.municipalities.values())
    assert all(m.members[0].role == "deputy_mayor" for m in config.municipalities.values())
    assert config.role_label(config.municipalities["385069"].members[0]) == "副町長"
    assert config.role_label(config.municipalities["382035"].members[0]) == "副市長"


def test_broken_copy_lists_every_mistake_with_file_and_line(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main = copy / "counterparts.toml"
    unknown = edit(main, '"384844",  # 松野町', '"389994",  # 松野町')  # in team1's list
    own = edit(
        main,
        'primary = "382027"  # 今治市（一次支援市）\nsecondary = ["383562", "382051"]',
        'primary = "384844"  # 今治市（一次支援市）\nsecondary = ["383562", "382051"]',
    )
    dup_code = edit(main, 'code = "382043"', 'code = "382035"')
    twice = edit(main, 'email = "bosai@matsuno.example"', 'email = "bosai@uwajima.example"')
    hq = copy / "rooms" / "hq.toml"
    hq_channel = (copy / "rooms" / "group-team1.toml").read_text().split('channel_id = "')[1].split('"')[0]
    edit(hq, 'link = "hq"', 'link = "nothing"')
    dup_channel = edit(
        copy / "rooms" / "group-team2.toml", 'channel_id = "', f'channel_id = "{hq_channel}" #'
    )
    (copy / "rooms" / "broken.toml").write_text('title = "壊れた部屋"\nchannel_id = \n')

    found = problems(copy)
    joined = "\n".join(found)
    assert f"counterparts.toml:{unknown}: groups[0].municipalities[" in joined
    assert "unknown municipality code 389994" in joined
    assert f"counterparts.toml:{own}: counterparts[" in joined and "the stricken town 384844 itself" in joined
    assert f"counterparts.toml:{dup_code}: municipalities[" in joined and "duplicate code 382035" in joined
    assert f"counterparts.toml:{twice - 2}" in joined or "already registered for 宇和島市" in joined
    assert "bosai@uwajima.example already registered for 宇和島市" in joined
    assert "rooms/hq.toml:" in joined and "'nothing'" in joined
    assert f"rooms/group-team2.toml:{dup_channel}: channel_id" in joined
    assert "rooms/broken.toml:2: (syntax): found malformed TOML" in joined
    assert len(found) >= 8

    # `hotline check` prints the same list and fails.
    assert cli.main(["--config", str(copy), "check"]) == 1
    err = capsys.readouterr().err
    assert "rooms/broken.toml:2" in err and "unknown municipality code 389994" in err


def test_room_linked_to_nothing_is_refused(copy: Path) -> None:
    line = edit(copy / "rooms" / "group-team1.toml", 'link = "group"\n', "")
    found = problems(copy)
    assert any(p.startswith("rooms/group-team1.toml") and "link: found nothing" in p for p in found), found
    assert line > 0


def test_unknown_keys_are_caught_as_typos(copy: Path) -> None:
    line = edit(copy / "counterparts.toml", 'name = "宇和島市"', 'name = "宇和島市"\nnmae = "typo"')
    found = problems(copy)
    assert f"counterparts.toml:{line + 1}: municipalities[2].nmae: found unknown key 'nmae'" in found[0]


def test_missing_hq_room_is_refused(copy: Path) -> None:
    (copy / "rooms" / "hq.toml").unlink()
    assert any("at least one HQ room" in p for p in problems(copy))


def test_member_without_identity_and_bad_role(copy: Path) -> None:
    edit(copy / "counterparts.toml", 'role = "deputy_mayor"', 'role = "boss"')
    text = (copy / "counterparts.toml").read_text()
    text = text.replace('email = "fukushicho@uwajima.example"', "", 1)
    (copy / "counterparts.toml").write_text(text)
    joined = "\n".join(problems(copy))
    assert "role: found 'boss'" in joined


def test_malformed_main_file_names_file_and_line(copy: Path) -> None:
    line = edit(copy / "counterparts.toml", 'name = "愛媛県"', 'name = "愛媛県')
    found = problems(copy)
    assert found[0].startswith(f"counterparts.toml:{line}: (syntax)")


def test_plan_is_paid_unless_set_and_a_bad_one_names_the_variable() -> None:
    assert plan_from_env({}) == "paid"
    assert plan_from_env({"HOTLINE_PLAN": " "}) == "paid"
    assert plan_from_env({"HOTLINE_PLAN": "free"}) == "free"
    with pytest.raises(SettingsError, match=r"HOTLINE_PLAN='bogus': expected one of \['free', 'paid'\]"):
        plan_from_env({"HOTLINE_PLAN": "bogus"})


@pytest.mark.parametrize("command", [["members", "verify"], ["rooms", "sync"]])
def test_cli_refuses_a_bad_plan_instead_of_falling_back(
    command: list[str],
    keypair: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Credentials are fine; only the plan is wrong. `serve` refuses it, so must the commands
    that talk to LINE WORKS, rather than pacing themselves for a plan nobody chose."""
    nowhere = "http://127.0.0.1:9"  # the discard port: nothing may be sent anyway
    env = {
        **credentials_env(keypair[0]),
        "LW_API_BASE_URL": nowhere,
        "LW_AUTH_URL": nowhere,
        "HOTLINE_PLAN": "bogus",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    database = tmp_path / "cli.sqlite3"
    assert cli.main(["--config", str(ROOT), *command, "--database", str(database)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "HOTLINE_PLAN='bogus'" in err and "['free', 'paid']" in err


# -- municipality codes, phones and weak towns (issue 11, point 8) ------------------------------


def test_every_sample_code_has_its_check_digit_and_the_prefecture_digits() -> None:
    config = load(ROOT)
    assert len(config.municipalities) == 20
    for code in [*config.municipalities, config.prefecture_code]:
        total = sum(int(d) * w for d, w in zip(code[:5], (6, 5, 4, 3, 2), strict=True))
        assert code[5] == str((11 - total % 11) % 10), code
        assert code[:2] == config.prefecture_code[:2] == "38"


@pytest.mark.parametrize(
    ("code", "found"),
    [
        (
            "999999",
            "found 999999 with a wrong check digit 9; expected the check digit computed from "
            "the first five digits (7)",
        ),
        ("383865", "found 383865 with a wrong check digit 5"),
        (
            "012025",
            "found 012025 of another prefecture (01); expected a code of this prefecture, starting with 38",
        ),
        ("38386", "found '38386'; expected a 6-digit municipality code with its check digit"),
    ],
)
def test_a_wrong_municipality_code_is_refused_with_file_and_line(copy: Path, code: str, found: str) -> None:
    line = edit(copy / "counterparts.toml", 'code = "385069"', f'code = "{code}"')
    assert any(
        p.startswith(f"counterparts.toml:{line}: municipalities[19].code: {found}") for p in problems(copy)
    )


def test_a_prefecture_code_with_a_wrong_check_digit_is_refused(copy: Path) -> None:
    line = edit(copy / "counterparts.toml", 'code = "380008"', 'code = "380009"')
    assert (
        f"counterparts.toml:{line}: prefecture.code: found 380009 with a wrong check digit 9"
        in problems(copy)[0]
    )


@pytest.mark.parametrize(
    "phone", ["089-912-2000", "09012345678", "0120-123-456", "+81-89-912-2000", "+819012345678"]
)
def test_a_japanese_phone_number_is_accepted(copy: Path, phone: str) -> None:
    edit(copy / "counterparts.toml", 'phone = "0897-00-0001"', f'phone = "{phone}"')
    assert load(copy).municipalities["382051"].members[0].phone == phone


@pytest.mark.parametrize(
    "phone", ["089-912-200", "12345678901", "089 912 2000", "+1-202-555-0100", "089--912-2000", "内線123"]
)
def test_a_phone_that_is_not_a_japanese_number_is_refused(copy: Path, phone: str) -> None:
    line = edit(copy / "counterparts.toml", 'phone = "0897-00-0001"', f'phone = "{phone}"')
    assert [p for p in problems(copy) if ".phone" in p] == [
        f"counterparts.toml:{line}: municipalities[4].members[0].phone: found {phone!r}; expected a Japanese "
        "phone number: 10 or 11 digits with optional hyphens (089-912-2000), or +81"
    ]


def test_a_town_in_no_group_and_without_supporters_is_a_warning_that_check_prints(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main = copy / "counterparts.toml"
    text = main.read_text()
    start = text.index('[[counterparts]]\nstricken = "385069"')
    end = (
        text.index("[[counterparts]]", start + 10) if "[[counterparts]]" in text[start + 10 :] else len(text)
    )
    main.write_text(text[:start] + text[end:])
    edit(main, '    "385069",  # 愛南町\n]', "]", 1)  # out of its group's list too
    config = load(copy)
    assert [w.found for w in config.warnings] == [
        "愛南町 (385069) with no [[groups]] entry and no [[counterparts]] entry"
    ]
    assert cli.main(["--config", str(copy), "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: 愛媛県, 20 municipalities")
    assert (
        "警告/warning: counterparts.toml:" in out and "愛南町（385069）はどのグループにも入っておらず" in out
    )
