"""The emulator and hotline over real HTTP on 127.0.0.1, for end-to-end tests and benchmarks.

`EmulatorSide` is the emulator seeded from a configuration, acting as people, with the demo
mailbox (a local SMTP server whose mails the emulator's page /mail shows); `LiveStack` runs
hotline in this process (waitress in a thread, real worker loops); `HotlineProcess` runs
`python run.py` as a separate process that tests may kill -9. Like the rest of `hotline.demo`
it runs from a checkout only: the wheel ships neither it nor the emulator.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from hotline.config import Config, Member
from hotline.config.settings import Credentials, Mail, Settings
from hotline.demo import demo_user_id, lineworks_env, mail_env, make_credentials, seed
from hotline.runtime.service import Hotline
from hotline.web.server import make_server
from lineworks_emulator import Emulator, Mailbox

ROOT = Path(__file__).resolve().parents[2]  # the repository: the stack runs from a checkout
# The stack's /api/ bearer token: long enough for the start-up check (HOTLINE_API_TOKEN needs at
# least 32 characters), fixed because the stack is a test fixture and holds nothing secret.
E2E_TOKEN = "e2e-token-for-the-live-test-stack-0123456789"  # noqa: S105
# HOTLINE_SECRET_KEY of a hotline process, fixed for the same reason: a test can then sign and
# read the links in its mails (hotline.domain.links.LinkSigner) as that process does.
E2E_SECRET_KEY = "e2e-secret-key-for-the-live-test-stack-0123456789"  # noqa: S105


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, message: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        pause.wait(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmulatorSide:
    """The emulator seeded from a configuration, with helpers to act as people, and the mailbox
    it shows at /mail (`self.mailbox`: hotline_env sends a hotline process's mail there)."""

    def __init__(self, config: Config, extra_users: list[dict[str, Any]] | None = None) -> None:
        self.config = config
        credentials, public_pem = make_credentials()
        tenant = seed(config, credentials, public_pem, None)
        tenant["users"].extend(extra_users or [])
        self.mailbox = Mailbox()
        self.mailbox.start()
        self.emulator = Emulator(tenant, mailbox=self.mailbox)
        self.base = self.emulator.start()
        self.credentials = Credentials(
            **{
                **credentials.__dict__,
                "api_base_url": self.emulator.api_base_url,
                "auth_url": self.emulator.auth_url,
            }
        )

    def faults(self, **switches: Any) -> None:
        requests.post(f"{self.base}/_emulator/faults", json=switches, timeout=10).raise_for_status()

    def state(self) -> dict[str, Any]:
        response = requests.get(f"{self.base}/_emulator/state", timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def act(
        self, member: Member | str, content: dict[str, Any], channel_id: str | None = None
    ) -> dict[str, Any]:
        user_id = member if isinstance(member, str) else demo_user_id(member)
        response = requests.post(
            f"{self.base}/_emulator/act",
            json={"userId": user_id, "channelId": channel_id, "content": content},
            timeout=30,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def say(self, member: Member | str, text: str, channel_id: str | None = None) -> dict[str, Any]:
        return self.act(member, {"type": "text", "text": text}, channel_id)

    def sent(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.state()["sent"]
        return result

    def stop(self) -> None:
        self.emulator.stop()
        self.mailbox.stop()


def hotline_env(side: EmulatorSide, database: Path, port: int, token: str = E2E_TOKEN) -> dict[str, str]:
    """The environment of a hotline process on `port` talking to `side`: its emulator, and its
    mailbox as the mail server (links in the mails point at http://127.0.0.1:`port`)."""
    return {
        **lineworks_env(side.credentials),
        "HOTLINE_API_TOKEN": token,
        "HOTLINE_SECRET_KEY": E2E_SECRET_KEY,
        "HOTLINE_DATABASE": str(database),
        "HOTLINE_PORT": str(port),
        "HOTLINE_CONFIG_DIR": str(ROOT),
        **mail_env(side.mailbox.url, f"http://127.0.0.1:{port}"),
    }


class LiveStack(EmulatorSide):
    """Emulator + hotline in this process, both on real sockets."""

    def __init__(
        self,
        config: Config,
        database: Path,
        extra_users: list[dict[str, Any]] | None = None,
        *,
        with_mail: bool = False,
        **overrides: Any,
    ) -> None:
        """`with_mail`: hotline's mail fallback on, sending to this stack's mailbox, its links
        pointing at this stack (the port is then chosen before hotline starts)."""
        super().__init__(config, extra_users)
        port = free_port() if with_mail else 0
        if with_mail:
            overrides = {
                "mail": Mail(
                    "smtp",
                    self.mailbox.host,
                    self.mailbox.port,
                    "",
                    "",
                    sender="hotline@demo.invalid",
                    public_url=f"http://127.0.0.1:{port}",
                ),
                "secret_key": E2E_SECRET_KEY,
                **overrides,
            }
        settings = Settings(
            credentials=self.credentials,
            api_token=E2E_TOKEN,
            database=database,
            **{"config_dir": ROOT, **overrides},
        )
        self.hotline = Hotline(settings, config)
        self.hotline.start()
        self.server = make_server(self.hotline, "127.0.0.1", port)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"  # type: ignore[union-attr]
        self.closing = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self.emulator.set_callback_url(f"{self.url}/callback")

    def _serve(self) -> None:
        try:
            self.server.run()
        except OSError:
            # waitress' loop may trip over the sockets that close() shuts from this thread
            if not self.closing:
                raise

    def api(self, path: str) -> Any:
        response = requests.get(
            f"{self.url}{path}", headers={"Authorization": f"Bearer {E2E_TOKEN}"}, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.closing = True
        self.server.close()
        self.hotline.stop()
        super().stop()


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs (Linux /proc)."""
    try:
        children = [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    except OSError:
        return []
    return [p for child in children for p in (child, *descendants(child))]


class HotlineProcess:
    """`python run.py` in production mode, as its own process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.port = int(env["HOTLINE_PORT"])
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "run.py")],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

        def healthy() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
                return False

        wait_until(healthy, 30, "hotline to start")

    def kill9(self) -> None:
        """SIGKILL the process and everything it started (under HOTLINE_REPLICA_URL: Litestream,
        then hotline, its child), the parent first so that nothing gets to tidy up."""
        assert self.proc is not None
        children = descendants(self.proc.pid)
        self.proc.send_signal(signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
