-- Heartbeats, maintenance windows and on-call overrides made from chat (issue 16, 5-7).

-- The last check-in of each configured heartbeat, and the incident its missed deadline
-- opened (cleared when the job beats again). The deadline itself is the durable timer
-- `heartbeat:<name>`.
CREATE TABLE heartbeats (
    name         TEXT   PRIMARY KEY,
    last_beat_at BIGINT,
    beats        BIGINT NOT NULL DEFAULT 0,
    missed_due   BIGINT,
    incident_id  BIGINT
);

-- A service (or an alert route) under maintenance over [starts_at, ends_at): its alerts are
-- kept (maintenance_alerts) but open no incident and page nobody. Ended early by setting
-- ended_at; a window ends on its own at ends_at.
CREATE TABLE maintenance_windows (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    service     TEXT,
    route       TEXT,
    reason      TEXT   NOT NULL,
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    ended_at    BIGINT,
    created_by  TEXT   NOT NULL,
    created_by_name TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    -- Shown in Discord by the gateway holder: announced, and a planned window made a
    -- Discord Scheduled Event.
    announced_at     BIGINT,
    discord_event_id BIGINT,
    -- The scheduled event of a window ended early, taken down.
    event_closed_at  BIGINT,
    CHECK (service IS NOT NULL OR route IS NOT NULL),
    CHECK (ends_at > starts_at)
);

CREATE INDEX maintenance_windows_ends ON maintenance_windows (ends_at) WHERE ended_at IS NULL;

-- The alerts a window held back: stored and counted, never an incident. One row per alert
-- instance and state, so a sender's repeats count once.
CREATE TABLE maintenance_alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    window_id   BIGINT NOT NULL REFERENCES maintenance_windows (id),
    source      TEXT   NOT NULL,
    group_key   TEXT   NOT NULL,
    fingerprint TEXT   NOT NULL,
    state       TEXT   NOT NULL,
    starts_at   TEXT   NOT NULL,
    summary     TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (window_id, source, fingerprint, starts_at, state)
);

-- Overrides made from chat: beside the file's [[schedules.NAME.overrides]], applied after
-- them (so they win where they overlap), later ones after earlier ones.
CREATE TABLE oncall_overrides (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule    TEXT   NOT NULL,
    user_id     BIGINT NOT NULL,
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    created_by  TEXT   NOT NULL,
    created_by_name TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    CHECK (ends_at > starts_at)
);

CREATE INDEX oncall_overrides_schedule ON oncall_overrides (schedule, ends_at);

