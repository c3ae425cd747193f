"""The deployment of docs/DEPLOY.md, run: Debian's nginx with deploy/nginx-hotline.conf (the file
DEPLOY.md shows) in front of `python run.py` on 127.0.0.1, over TLS with a certificate made
here. The client's address and scheme reach hotline, the session cookie is Secure, signed
callbacks pass and oversized ones stop at nginx, and 120 slow clients neither stop other
clients nor stay forever. waitress alone also outlasts 120 slow connections. The systemd unit
passes systemd-analyze.

nginx and systemd-analyze come from scripts/ensure-deploy-tools (make unit). nginx runs as the
current user with a temporary prefix, pid and logs; every socket is on the loopback, every wait
has a deadline."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from hotline.config import Config
from hotline.demo import demo_user_id
from hotline.demo.stack import ROOT, EmulatorSide, HotlineProcess, free_port, hotline_env, wait_until
from hotline.domain import accounts
from hotline.storage import Storage
from tests.support.bot import sign
from tests.support.tls import self_signed
from tests.support.web import ADMIN, PASSWORD, csrf_of

DEPLOY_MD = ROOT / "docs" / "DEPLOY.md"
NGINX_CONF = ROOT / "deploy" / "nginx-hotline.conf"
UNIT = ROOT / "deploy" / "hotline.service"
ENV_EXAMPLE = ROOT / "deploy" / "hotline.env.example"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SLOW_CLIENTS = 120
HEADER_TIMEOUT = 10  # client_header_timeout of deploy/nginx-hotline.conf
PERSON = "127.0.0.2"  # a person's browser: another loopback address than nginx's own


@dataclass
class Site:
    """hotline behind nginx, as deployed."""

    side: EmulatorSide
    hotline: HotlineProcess
    database: Path
    https: str  # https://127.0.0.1:<port>
    http: str
    direct: str  # hotline itself, without nginx
    cert: Path
    error_log: Path
    bot_secret: str


def test_deploy_md_shows_the_files_this_test_runs() -> None:
    doc = DEPLOY_MD.read_text()
    assert f"```nginx\n{NGINX_CONF.read_text()}```" in doc
    assert f"```ini\n{UNIT.read_text()}```" in doc
    assert f"```sh\n{ENV_EXAMPLE.read_text()}```" in doc


def test_the_systemd_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    # Only the program's path differs: systemd-analyze checks that it exists.
    unit = tmp_path / "hotline.service"
    installed = "/srv/hotline/.venv/bin/hotline"
    text = UNIT.read_text()
    assert text.count(installed) == 1
    unit.write_text(text.replace(installed, str(Path(sys.executable).parent / "hotline")))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"deploy/nginx-hotline.conf no longer has {old!r} once"
    return text.replace(old, new)


def _nginx_conf(prefix: Path, ports: dict[str, int], cert: Path, key: Path) -> Path:
    """deploy/nginx-hotline.conf with only its addresses and certificate paths changed for this
    machine, inside a main configuration like Debian's /etc/nginx/nginx.conf but with
    everything under `prefix`."""
    site = NGINX_CONF.read_text()
    site = _replace_once(site, "listen 80;", f"listen 127.0.0.1:{ports['http']};")
    site = _replace_once(site, "listen 443 ssl;", f"listen 127.0.0.1:{ports['https']} ssl;")
    site = _replace_once(site, "server 127.0.0.1:8080;", f"server 127.0.0.1:{ports['hotline']};")
    site = _replace_once(site, "/etc/letsencrypt/live/hotline.example.jp/fullchain.pem", str(cert))
    site = _replace_once(site, "/etc/letsencrypt/live/hotline.example.jp/privkey.pem", str(key))
    (prefix / "hotline.conf").write_text(site)
    # As root nginx would hand its workers to "nobody", who cannot enter pytest's private
    # folders: run them as the current user (the directive is ignored when not root).
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = prefix / "nginx.conf"
    main.write_text(
        f"{user}worker_processes 1;\n"
        "daemon off;\n"
        f"pid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log info;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    access_log {prefix}/access.log;\n"
        + "".join(
            f"    {kind}_temp_path {prefix}/{kind}_temp;\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"    include {prefix}/hotline.conf;\n"
        "}\n"
    )
    return main


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sample_config: Config) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("deploy")
    side = EmulatorSide(sample_config)
    database = folder / "hotline.sqlite3"
    storage = Storage(database)
    accounts.create(storage, ADMIN, PASSWORD, "admin", by="test", at=datetime.now(UTC))
    storage.close()
    ports = {"http": free_port(), "https": free_port(), "hotline": free_port()}
    env = {**hotline_env(side, database, ports["hotline"]), "HOTLINE_TRUSTED_PROXIES": "1"}
    process = HotlineProcess(env, folder / "hotline.log")
    nginx: subprocess.Popen[bytes] | None = None
    try:
        process.start()
        prefix = folder / "nginx"
        prefix.mkdir()
        cert, key = self_signed(folder)
        main = _nginx_conf(prefix, ports, cert, key)
        nginx = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(main), "-e", str(prefix / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up() -> bool:
            assert nginx is not None and nginx.poll() is None, (prefix / "error.log").read_text()
            return _listening(ports["https"])

        wait_until(up, 20, "nginx to listen")
        yield Site(
            side=side,
            hotline=process,
            database=database,
            https=f"https://127.0.0.1:{ports['https']}",
            http=f"http://127.0.0.1:{ports['http']}",
            direct=f"http://127.0.0.1:{ports['hotline']}",
            cert=cert,
            error_log=prefix / "error.log",
            bot_secret=side.credentials.bot_secret,
        )
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGTERM)  # fast shutdown of the master and its worker
            try:
                nginx.wait(10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait(10)
        process.stop()
        side.stop()


class FromAddress(HTTPAdapter):
    """Connections from another loopback address, so that nginx's client differs from nginx."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def _browser(site: Site) -> requests.Session:
    session = requests.Session()
    session.mount("https://", FromAddress(PERSON))
    session.mount("http://", FromAddress(PERSON))
    session.verify = str(site.cert)
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace session.verify
    return session


def _audit(site: Site, action: str) -> list[dict[str, Any]]:
    storage = Storage(site.database)
    try:
        return [dict(r) for r in storage.audit_entries() if r["action"] == action]
    finally:
        storage.close()


def test_through_nginx_the_clients_address_and_https_reach_hotline(site: Site) -> None:
    browser = _browser(site)
    login = f"{site.https}/dashboard/login"
    page = browser.get(login, timeout=10)
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Cache-Control"] == "no-store"
    response = browser.post(
        login,
        data={"username": ADMIN, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        # the Referer a browser sends; X-Forwarded-For as a client might forge it
        headers={"Referer": login, "X-Forwarded-For": "198.51.100.1"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text
    session_cookie = response.headers["Set-Cookie"]
    assert "; Secure" in session_cookie and "; HttpOnly" in session_cookie
    assert browser.get(f"{site.https}/dashboard/", timeout=10).status_code == 200
    # hotline saw the person's address, not nginx's (127.0.0.1) nor the forged one.
    assert _audit(site, "login")[0]["address"] == PERSON
    # Plain http only leads to https.
    plain = browser.get(f"{site.http}/dashboard/", allow_redirects=False, timeout=10)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")


def _signed_post(site: Site, body: bytes) -> requests.Response:
    return requests.post(
        f"{site.https}/callback",
        data=body,
        headers={
            "Content-Type": "application/json; charset=UTF-8",
            "X-WORKS-BotId": site.side.credentials.bot_id,
            "X-WORKS-Signature": sign(site.bot_secret, body),
        },
        verify=str(site.cert),
        timeout=30,
    )


def test_signed_callbacks_pass_and_oversized_ones_stop_at_nginx(site: Site, sample_config: Config) -> None:
    poster = sample_config.municipalities["382035"].members[0]
    event = {
        "type": "message",
        "source": {"userId": demo_user_id(poster)},
        "issuedTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "content": {"type": "text", "text": "第一報 nginx 経由の報告"},
    }
    assert _signed_post(site, json.dumps(event, ensure_ascii=False).encode()).status_code == 200

    def relayed() -> bool:
        return any("nginx 経由の報告" in json.dumps(m, ensure_ascii=False) for m in site.side.sent())

    wait_until(relayed, 30, "the report relayed through nginx")
    # A body of exactly hotline's limit passes nginx; one byte more is refused by nginx itself.
    at_limit = b'"' + b"x" * 999_998 + b'"'
    assert _signed_post(site, at_limit).status_code == 200
    assert _signed_post(site, b"x" * 1_000_001).status_code == 413
    assert "client intended to send too large body: 1000001 bytes" in site.error_log.read_text()


def _slow_clients(port: int, *, tls: ssl.SSLContext | None) -> list[socket.socket]:
    """SLOW_CLIENTS connections from 127.0.0.1, each with a request whose headers never end
    (non-blocking from here on)."""
    opened: list[socket.socket] = []
    for n in range(SLOW_CLIENTS):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.1", 0))
        conn = tls.wrap_socket(raw, server_hostname="127.0.0.1") if tls else raw
        conn.sendall(f"GET /healthz?slow={n} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        conn.setblocking(False)
        opened.append(conn)
    return opened


def _answered_or_closed(conn: socket.socket) -> bool:
    try:
        conn.recv(4096)  # an answer (408) or the end; TLS session tickets are read silently
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except OSError:
        return True
    return True


def _still_open(conns: list[socket.socket]) -> list[socket.socket]:
    """The connections the server has neither answered nor closed."""
    readable, _, _ = select.select(conns, [], [], 0) if conns else ([], [], [])
    return [c for c in conns if c not in readable or not _answered_or_closed(c)]


def _trickle(conns: list[socket.socket], n: int) -> None:
    """One more header line on each connection still open (slowloris)."""
    for conn in _still_open(conns):
        with contextlib.suppress(OSError):  # the server closed it: _still_open will say so
            conn.sendall(f"X-Slow-{n}: still typing\r\n".encode())


def _close(conns: list[socket.socket]) -> None:
    for conn in conns:
        conn.close()


def test_slow_clients_are_held_and_dropped_by_nginx_while_others_are_served(site: Site) -> None:
    tls = ssl.create_default_context(cafile=str(site.cert))
    port = int(site.https.rsplit(":", 1)[1])
    started = time.monotonic()
    slow = _slow_clients(port, tls=tls)
    try:
        _trickle(slow, 0)
        answer = requests.get(f"{site.https}/healthz", verify=str(site.cert), timeout=5)
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}
        assert len(_still_open(slow)) == SLOW_CLIENTS  # all of them were hanging meanwhile
        # A header line every second does not keep them: nginx drops each one when
        # client_header_timeout has passed since its request began.
        deadline = started + HEADER_TIMEOUT + 20
        last_trickle, n = time.monotonic(), 1
        while (hanging := _still_open(slow)) and time.monotonic() < deadline:
            if time.monotonic() - last_trickle >= 1:
                _trickle(hanging, n)
                last_trickle, n = time.monotonic(), n + 1
            select.select(hanging, [], [], 0.2)  # wakes as soon as nginx answers or closes one
        held = len(_still_open(slow))
        assert held == 0, f"{held} slow clients still held after {time.monotonic() - started:.0f} s"
        assert time.monotonic() - started >= HEADER_TIMEOUT - 1
        timed_out = site.error_log.read_text().count("client timed out (110: Connection timed out)")
        assert timed_out >= SLOW_CLIENTS  # nginx's header timeout dropped them, nothing else
    finally:
        _close(slow)


def test_waitress_alone_outlasts_120_slow_connections(site: Site) -> None:
    port = int(site.direct.rsplit(":", 1)[1])
    slow = _slow_clients(port, tls=None)
    try:
        _trickle(slow, 0)
        answer = requests.get(f"{site.direct}/healthz", timeout=5)
        assert answer.status_code == 200
        assert len(_still_open(slow)) == SLOW_CLIENTS
    finally:
        _close(slow)
