-- Durable timers (SPEC §1 "Deadline and reminder"): deadlines, reminders and schedules as rows,
-- one per (kind, subject), so they survive restarts (an overdue one fires at once) and fire
-- once across processes (a claim with a lease, like escalation steps). A timer is re-armed by
-- setting it again, and cancelled by what it waits for.

CREATE TABLE timers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT   NOT NULL,
    subject     TEXT   NOT NULL,
    due_at      BIGINT NOT NULL,
    state       TEXT   NOT NULL CHECK (state IN ('pending', 'fired', 'cancelled')),
    data        TEXT   NOT NULL DEFAULT '{}',
    claimed_by  TEXT,
    claim_until BIGINT,
    fired_at    BIGINT,
    fires       BIGINT NOT NULL DEFAULT 0,
    UNIQUE (kind, subject)
);

CREATE INDEX timers_due ON timers (due_at) WHERE state = 'pending';

-- Direct messages warroom owes people outside any incident channel (an overdue action item's
-- owner, whoever comes on call): written by what decided them, keyed so a decision made twice
-- is one message, and sent once by the process holding the Discord gateway.
CREATE TABLE discord_outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_key TEXT   NOT NULL UNIQUE,
    user_id     BIGINT NOT NULL,
    content     TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    sent_at     BIGINT,
    attempts    BIGINT NOT NULL DEFAULT 0,
    outcome     TEXT
);

CREATE INDEX discord_outbox_unsent ON discord_outbox (id) WHERE sent_at IS NULL;
