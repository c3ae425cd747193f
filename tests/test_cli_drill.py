"""`hotline drill ...` as a coordinator uses it: no LINE WORKS credentials needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotline.cli import main as cli
from tests.support.bot import ROOT


def run(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--config", str(ROOT), "drill", "--database", str(db), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_create_list_show_run_cancel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "cli.sqlite3"
    code, out, _ = run(
        capsys,
        db,
        "create",
        "--title",
        "12月 参集訓練",
        "--roles",
        "deputy_mayor",
        "--at",
        "2030-12-01 09:00",
        "--remind",
        "10,20",
    )
    assert code == 0 and out.startswith("drill 1 created: 20 people, sending takes about 0.1 min")
    code, out, _ = run(
        capsys, db, "create", "--title", "月例", "--municipalities", "382035", "--cron", "0 9 1-7 * mon"
    )
    assert code == 0
    code, out, _ = run(
        capsys,
        db,
        "create",
        "--title",
        "抜き打ち",
        "--municipalities",
        "382035",
        "--window",
        "2030-12-02 09:00",
        "2030-12-02 17:00",
    )
    assert code == 0
    code, out, _ = run(capsys, db, "list")
    lines = out.splitlines()
    assert len(lines) == 3
    assert "window 2030-12-02 09:00..17:00 JST" in lines[0]  # the moment itself stays hidden
    assert "cron 0 9 1-7 * mon" in lines[1] and "2030-12-01 09:00 JST" in lines[2]
    code, out, _ = run(capsys, db, "show", "1")
    shown = json.loads(out)
    assert shown["title"] == "12月 参集訓練" and shown["targets"]["roles"] == ["deputy_mayor"]
    assert run(capsys, db, "run", "1")[0] == 0
    assert json.loads(run(capsys, db, "show", "1")[1])["schedule"] == "now"
    assert run(capsys, db, "cancel", "2")[0] == 0
    assert run(capsys, db, "cancel", "2")[0] == 1  # already cancelled


def test_bad_drill_is_refused_in_japanese(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, tmp_path / "x.sqlite3", "create", "--title", "x", "--municipalities", "999999")
    assert code == 1 and "訓練を登録できませんでした: 対象に見つからないものがあります: 999999" in err
    with pytest.raises(SystemExit):
        run(capsys, tmp_path / "x.sqlite3", "create", "--title", "x", "--at", "tomorrow")


def test_export_writes_the_csv_of_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "e.sqlite3"
    assert run(capsys, db, "export", "1")[0] == 1  # no such run
    from hotline.clock import Clock
    from hotline.config import load
    from hotline.domain.drills import Drills, Targets
    from hotline.storage import Storage

    config = load(ROOT)
    drills = Drills(Storage(db), lambda: config, Clock(), bot_secret="s")
    drills.fire(drills.create(title="t", targets=Targets(municipalities=("382035",)), created_by="t"))
    out_file = tmp_path / "answers.csv"
    assert run(capsys, db, "export", "1", "-o", str(out_file))[0] == 0
    assert out_file.read_bytes().startswith(b"\xef\xbb\xbf\xe5\xb8\x82\xe7\x94\xba")  # BOM + 市町
