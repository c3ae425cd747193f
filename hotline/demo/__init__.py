"""`python run.py --demo`: hotline and the LINE WORKS emulator wired together on 127.0.0.1.

Throwaway keys and secrets are generated at each start. hotline itself does not know it is a
demo: it reads ordinary settings from an environment (`from_env`) whose LINE WORKS URLs point at
the emulator and whose mail server (HOTLINE_SMTP_URL) is the demo mailbox, a local SMTP server
whose mails the emulator's page /mail shows. The throwaway database gets one administrator
account, `admin`, with a random password printed in the banner.
"""

from __future__ import annotations

import logging
import secrets
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hotline import config as config_module
from hotline.config import Config, Member
from hotline.config.counterparts import room_members
from hotline.config.settings import Credentials, from_env
from hotline.domain import accounts

log = logging.getLogger(__name__)

DEMO_NAMESPACE = uuid.UUID("6f1c2a2e-8d55-4b8e-9a51-2f0b3c1d7e44")
DEMO_BOT_ID = "2000001"
DEMO_DOMAIN_ID = 40029600
DEMO_ADMIN = "admin"
DEMO_MAIL_FROM = "hotline@demo.invalid"  # .invalid: no such domain anywhere (RFC 2606)


def demo_user_id(member: Member) -> str:
    """The userId a member has in the emulator: theirs if the config names one, else a stable
    one derived from the e-mail (so hotline must resolve it through the users API)."""
    return member.user_id or str(uuid.uuid5(DEMO_NAMESPACE, member.email))


def make_keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def make_credentials() -> tuple[Credentials, str]:
    """Fresh throwaway credentials; returns them and the public key PEM for the emulator."""
    private_pem, public_pem = make_keys()
    credentials = Credentials(
        client_id=f"demo-client-{secrets.token_hex(4)}",
        client_secret=secrets.token_urlsafe(24),
        service_account=f"demo.serviceaccount@{secrets.token_hex(3)}.example",
        private_key_pem=private_pem,
        bot_id=DEMO_BOT_ID,
        bot_secret=secrets.token_urlsafe(24),
        api_base_url="http://127.0.0.1:0/v1.0",  # replaced once the emulator has its port
        auth_url="http://127.0.0.1:0/oauth2/v2.0/token",
    )
    return credentials, public_pem


def lineworks_env(credentials: Credentials) -> dict[str, str]:
    """The LW_ variables that give hotline these credentials (and the emulator's URLs)."""
    return {
        "LW_API_CLIENT_ID": credentials.client_id,
        "LW_API_CLIENT_SECRET": credentials.client_secret,
        "LW_API_SERVICE_ACCOUNT": credentials.service_account,
        "LW_API_PRIVATEKEY": credentials.private_key_pem,
        "LW_API_BOT_ID": credentials.bot_id,
        "LW_API_BOT_SECRET": credentials.bot_secret,
        "LW_API_BASE_URL": credentials.api_base_url,
        "LW_AUTH_URL": credentials.auth_url,
        "LW_API_SCOPE": credentials.scope,
    }


def mail_env(smtp_url: str, public_url: str) -> dict[str, str]:
    """The variables that send hotline's mails to the demo mailbox (`Mailbox.url`), their links
    pointing at hotline's own address `public_url`."""
    return {
        "HOTLINE_SMTP_URL": smtp_url,
        "HOTLINE_MAIL_FROM": DEMO_MAIL_FROM,
        "HOTLINE_PUBLIC_URL": public_url,
    }


def seed(
    config: Config, credentials: Credentials, public_pem: str, callback_url: str | None
) -> dict[str, Any]:
    """The emulator's tenant: every member of the configuration as a user, every room with a
    channelId as a room the bot is in, with the members it should have."""
    users = []
    for member in config.all_members():
        muni = config.municipalities.get(member.municipality_code or "")
        users.append(
            {
                "userId": demo_user_id(member),
                "email": member.email,
                "name": member.name,
                "org": muni.name if muni else config.hq_name,
                "position": config.role_label(member),
                "isSuspended": False,
                "isDeleted": False,
            }
        )
    channels = [
        {
            "channelId": room.channel_id,
            "title": room.title,
            "members": [demo_user_id(m) for m in room_members(config, room)],
        }
        for room in config.rooms
        if room.channel_id
    ]
    return {
        "domain_id": DEMO_DOMAIN_ID,
        "bot": {
            "bot_id": credentials.bot_id,
            "bot_secret": credentials.bot_secret,
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "service_account": credentials.service_account,
            "public_key_pem": public_pem,
            "callback_url": callback_url,
        },
        "users": users,
        "channels": channels,
        "boards": [{"boardId": config.board_id, "title": "災害第一報"}] if config.board_id else [],
    }


def _free(port: int) -> int:
    """`port` if it is free on 127.0.0.1, else one the OS finds free."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
    return port


def run(config_dir: Path, *, port: int = 8080, emulator_port: int = 8090) -> None:
    from hotline.demo.jma_feed import JmaFeedServer
    from hotline.runtime.service import Hotline
    from hotline.web.server import make_server
    from lineworks_emulator import Emulator, Mailbox

    config = config_module.load(config_dir)
    credentials, public_pem = make_credentials()
    # hotline's mail goes to this local SMTP server; the emulator's page /mail shows it.
    mailbox = Mailbox()
    mailbox.start()
    emulator = Emulator(seed(config, credentials, public_pem, None), mailbox=mailbox)
    emulator_base = emulator.start(host="127.0.0.1", port=_free(emulator_port))
    credentials = Credentials(
        **{
            **credentials.__dict__,
            "api_base_url": emulator.api_base_url,
            "auth_url": emulator.auth_url,
        }
    )
    # A local JMA feed; its page publishes the real telegrams of tests/fixtures/jma.
    jma_feed = JmaFeedServer()
    jma_feed_url = jma_feed.start()
    data_dir = Path(tempfile.mkdtemp(prefix="hotline-demo-"))
    hotline_port = _free(port)  # known before hotline starts: its mails link to it
    hotline_base = f"http://127.0.0.1:{hotline_port}"
    # The settings as an operator gives them, through the environment hotline reads.
    settings = from_env(
        {
            **lineworks_env(credentials),
            "HOTLINE_API_TOKEN": secrets.token_urlsafe(24),
            # Throwaway like every secret here: the banner's password changes at each start,
            # and a session key written in the source would let anyone forge a demo login.
            "HOTLINE_SECRET_KEY": secrets.token_urlsafe(32),
            "HOTLINE_CONFIG_DIR": str(config_dir),
            "HOTLINE_DATABASE": str(data_dir / "hotline.sqlite3"),
            "HOTLINE_HOST": "127.0.0.1",
            "HOTLINE_PORT": str(hotline_port),
            "HOTLINE_JMA_FEED_URL": jma_feed_url,
            "HOTLINE_JMA_POLL_SECONDS": "5",  # the least allowed: a published telegram shows within seconds
            **mail_env(mailbox.url, hotline_base),
        }
    )
    hotline = Hotline(settings, config)
    admin_password = secrets.token_urlsafe(12)  # 16 characters, new at every start
    accounts.create(hotline.storage, DEMO_ADMIN, admin_password, "admin", by="demo", at=hotline.clock.now())
    hotline.start()
    server = make_server(hotline, "127.0.0.1", settings.port)
    emulator.set_callback_url(f"{hotline_base}/callback")
    print(
        "\n"
        "hotline デモを起動しました（LINE WORKS エミュレータ使用・認証情報不要）\n"
        f"  トーク画面（LINE WORKS エミュレータ）: {emulator_base}/\n"
        f"  受信メール（デモ用メールサーバー）:   {emulator_base}/mail\n"
        f"  hotline（本体）:                     {hotline_base}/healthz\n"
        f"  ダッシュボード:                       {hotline_base}/dashboard/\n"
        f"  気象庁フィード（デモ、電文を配信）:   {jma_feed.base}/\n"
        f"  ログイン（デモ専用・毎回変わります）: ユーザー名 {DEMO_ADMIN} / パスワード {admin_password}\n"
        f"  API トークン（/api/ 用）:             {settings.api_token}\n"
        f"  メール送信先（SMTP、デモ用）:         {mailbox.url}\n"
        f"  データベース（一時）:                 {settings.database}\n"
        "  終了するには Ctrl+C\n",
        flush=True,
    )
    try:
        server.run()
    finally:
        hotline.stop()
        emulator.stop()
        mailbox.stop()
        jma_feed.stop()
