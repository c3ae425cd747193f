"""Schema version 1: the tables exactly as the code of commit 640e222 created them.

Frozen: this text is what every database created before recorded migrations holds, so it
never changes. A later schema change is a new migration in `migrations.py`, never an edit
here. Every statement is IF NOT EXISTS, which is how migration 1 adopts such a database in
place (nothing to create) and builds a new one from nothing.
"""

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,              -- new | done | rejected | failed
    reason TEXT,
    processed_at TEXT
);
CREATE INDEX IF NOT EXISTS inbox_status ON inbox(status, id);

CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY,
    municipality_code TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    status TEXT NOT NULL               -- open | closed
);
CREATE INDEX IF NOT EXISTS incidents_town ON incidents(municipality_code, status);

CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    inbox_id INTEGER UNIQUE REFERENCES inbox(id),
    parent_report_id INTEGER REFERENCES reports(id),
    kind TEXT NOT NULL,                -- first | followup | attachment
    label TEXT NOT NULL,               -- 第一報, 第2報, 続報, 写真 ...
    municipality_code TEXT NOT NULL,
    text TEXT NOT NULL,
    content TEXT,                      -- JSON of the received content for attachments
    poster_key TEXT NOT NULL,
    poster_user_id TEXT NOT NULL,
    poster_name TEXT NOT NULL,
    poster_role TEXT NOT NULL,
    source_channel_id TEXT,            -- NULL when posted 1:1 to the bot
    created_at TEXT NOT NULL,
    receipt_sent INTEGER NOT NULL DEFAULT 0,
    completion_sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS reports_incident ON reports(incident_id);

CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    dedupe_key TEXT UNIQUE NOT NULL,
    created_at TEXT NOT NULL,
    priority INTEGER NOT NULL,         -- lower goes first: real reports 0, drills 50
    purpose TEXT NOT NULL,             -- report | receipt | notice | reply
    report_id INTEGER REFERENCES reports(id),
    room_key TEXT,
    channel_id TEXT,
    user_id TEXT,
    content TEXT NOT NULL,             -- JSON message content
    status TEXT NOT NULL,              -- pending | sending | sent | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_at TEXT,
    sent_at TEXT,
    error TEXT,
    failure_notified INTEGER NOT NULL DEFAULT 0,
    interrupted INTEGER NOT NULL DEFAULT 0,  -- times a crash left it 'sending' (a possible duplicate each)
    told_retrying INTEGER NOT NULL DEFAULT 0  -- 1: the poster was told it is retried; 2: told it arrived
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, priority, next_attempt_at, id);
CREATE INDEX IF NOT EXISTS outbox_report ON outbox(report_id);

CREATE TABLE IF NOT EXISTS uploads (
    report_id INTEGER PRIMARY KEY REFERENCES reports(id),
    file_id TEXT NOT NULL,
    uploaded_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS identities (
    user_id TEXT PRIMARY KEY,
    email TEXT,
    name TEXT,
    resolved_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS identities_email ON identities(email);

CREATE TABLE IF NOT EXISTS acks (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports(id),
    member_key TEXT NOT NULL,
    user_id TEXT NOT NULL,
    municipality_code TEXT,            -- NULL for HQ staff
    channel_id TEXT,
    via TEXT NOT NULL,                 -- tap | word
    acked_at TEXT NOT NULL,
    UNIQUE(report_id, member_key)
);

CREATE TABLE IF NOT EXISTS board_posts (
    report_id INTEGER PRIMARY KEY REFERENCES reports(id),
    board_id TEXT NOT NULL,
    post_id TEXT NOT NULL,
    posted_at TEXT NOT NULL,
    polled_at TEXT                     -- last successful readers poll
);

CREATE TABLE IF NOT EXISTS board_reads (
    report_id INTEGER NOT NULL REFERENCES reports(id),
    user_id TEXT NOT NULL,
    is_read INTEGER NOT NULL,
    first_read_seen_at TEXT,           -- first poll that saw it read
    PRIMARY KEY (report_id, user_id)
);

CREATE TABLE IF NOT EXISTS drills (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,                -- drill | real
    targets TEXT NOT NULL,             -- JSON: municipalities, roles, rooms, members
    schedule TEXT NOT NULL,            -- once | cron | window | now
    run_at TEXT,                       -- once: the fire time; window: the hidden random moment
    cron TEXT,                         -- cron: crontab expression in JST
    window_start TEXT,
    window_end TEXT,
    questions TEXT NOT NULL,           -- JSON
    deadline_minutes INTEGER NOT NULL,
    remind_minutes TEXT NOT NULL,      -- JSON list of minutes after firing
    report_channel_id TEXT,            -- where the summary goes ('' = HQ rooms)
    status TEXT NOT NULL,              -- scheduled | cancelled
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_checked_at TEXT NOT NULL      -- cron: fire times up to here were handled
);

CREATE TABLE IF NOT EXISTS drill_runs (
    id INTEGER PRIMARY KEY,
    drill_id INTEGER NOT NULL REFERENCES drills(id),
    scheduled_for TEXT NOT NULL,
    fired_at TEXT,
    deadline_at TEXT,
    status TEXT NOT NULL,              -- running | closed | aborted | missed
    summary TEXT,                      -- JSON, at close
    UNIQUE (drill_id, scheduled_for)   -- nothing fires twice
);

CREATE TABLE IF NOT EXISTS drill_targets (
    run_id INTEGER NOT NULL REFERENCES drill_runs(id),
    member_key TEXT NOT NULL,
    name TEXT NOT NULL,
    municipality_code TEXT,
    PRIMARY KEY (run_id, member_key)
);

CREATE TABLE IF NOT EXISTS drill_answers (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES drill_runs(id),
    member_key TEXT NOT NULL,
    question TEXT NOT NULL,            -- safety | arrival | comment
    answer TEXT NOT NULL,
    answered_at TEXT NOT NULL,
    late INTEGER NOT NULL DEFAULT 0    -- after the deadline: kept, marked
);
CREATE INDEX IF NOT EXISTS drill_answers_run ON drill_answers(run_id, member_key, question, id);

CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,                -- stranger | forged_ack | ...
    user_id TEXT,
    channel_id TEXT,
    detail TEXT,
    inbox_id INTEGER
);

CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,       -- werkzeug scrypt; never the password
    role TEXT NOT NULL,                -- admin | coordinator | viewer
    active INTEGER NOT NULL DEFAULT 1, -- 0: disabled, cannot log in
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    last_login_at TEXT
);

CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    who TEXT NOT NULL,                 -- account name, cli:<os user>, or 'system'
    action TEXT NOT NULL,              -- login | login_failed | logout | account_create | ...
    target TEXT NOT NULL,              -- account:<name> | drill:<id> | drill_run:<id> | ...
    before TEXT,                       -- JSON, NULL when nothing existed before
    after TEXT,                        -- JSON, NULL when nothing exists after
    diff TEXT NOT NULL,                -- unified diff of the two JSON texts
    address TEXT                       -- client address for web actions
);
"""
