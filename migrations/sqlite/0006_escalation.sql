-- Escalation: where each incident's policy stands, and the outbox of pages.
--
-- `escalations` holds one row per incident that escalates: its policy, the step that fires
-- next and when (`due_at`, NULL unless `state` is 'active'). The engine claims a step with
-- a conditional UPDATE on (next_level, next_round), so two engines never fire the same step.
--
-- `pages` is the outbox: a step writes its pages here in the same transaction that moves
-- the escalation on; a sender claims one (state 'sending' until `lease_until`), delivers it
-- and records the outcome. (dedup_key, action) is unique: every delivery of one page, and
-- its acknowledge and resolve, carry the same key.

CREATE TABLE escalations (
    incident_id BIGINT  PRIMARY KEY REFERENCES incidents (id),
    policy      TEXT    NOT NULL,
    -- active | stopped (acknowledged, mitigated, resolved) | finished (no step left) |
    -- audited (finished while unacknowledged, and the fallback was paged)
    state       TEXT    NOT NULL,
    -- The plan's origin: the opening, or the reopening.
    started_at  BIGINT  NOT NULL,
    -- Rounds used by earlier runs of the policy (before a reopen), so dedup keys stay unique.
    round_base  BIGINT  NOT NULL,
    next_level  BIGINT  NOT NULL,
    next_round  BIGINT  NOT NULL,
    due_at      BIGINT,
    -- Failed pages of the step that fired last.
    failures    BIGINT  NOT NULL DEFAULT 0,
    updated_at  BIGINT  NOT NULL
);

CREATE INDEX escalations_due ON escalations (due_at) WHERE due_at IS NOT NULL;

CREATE TABLE pages (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key      TEXT    NOT NULL,
    -- trigger | acknowledge | resolve
    action         TEXT    NOT NULL,
    incident_id    BIGINT  NOT NULL REFERENCES incidents (id),
    -- 1-based level and absolute round of the step; level 0 is a page from /page or the auditor.
    level          BIGINT  NOT NULL,
    round          BIGINT  NOT NULL,
    target         TEXT    NOT NULL,
    -- discord_user | discord_role | notifier | nobody; `recipient` is the user id, bot role,
    -- notifier name, or why nobody is reached.
    recipient_kind TEXT    NOT NULL,
    recipient      TEXT    NOT NULL,
    schedule       TEXT,
    via_override   BOOLEAN NOT NULL DEFAULT FALSE,
    -- What the person who paged by hand said, if anyone did.
    message        TEXT,
    -- pending | sending | sent | failed | cancelled | skipped
    state          TEXT    NOT NULL,
    attempts       BIGINT  NOT NULL DEFAULT 0,
    send_after     BIGINT  NOT NULL,
    lease_until    BIGINT,
    -- The process holding the claim (`host/pid/start`), so a restarted warroom on the same
    -- host can tell that a dead process's claims will never be finished.
    claimed_by     TEXT,
    created_at     BIGINT  NOT NULL,
    finished_at    BIGINT,
    outcome        TEXT,
    UNIQUE (dedup_key, action)
);

-- The sender's two questions: pending pages by when they may go, claims by when they end.
CREATE INDEX pages_ready ON pages (state, send_after);
CREATE INDEX pages_claims ON pages (state, lease_until);
CREATE INDEX pages_incident ON pages (incident_id, state);
