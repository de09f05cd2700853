-- Scheduled checks and drills (`[checks.NAME]`, `[drills.NAME]`). Their times are durable
-- timers (kinds `check`, `drill`, `drill_announce`); what is kept here is what those timers
-- decided.

-- Incidents opened by a schedule (a drill, a failing check) say `source = 'schedule'`. SQLite
-- cannot alter a CHECK constraint, and rebuilding `incidents` would have to know every column
-- and trigger other migrations give it; widening the list is one of the edits SQLite documents
-- as safe through `writable_schema` ("Making Other Kinds Of Table Schema Changes",
-- https://www.sqlite.org/lang_altertable.html): the stored rows are untouched, and RESET makes
-- every connection read the new schema.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''alert'', ''cli''))', '''alert'', ''cli'', ''schedule''))')
 WHERE type = 'table' AND name = 'incidents';
PRAGMA writable_schema = RESET;

-- One row per scheduled check: how its last finished run ended, how many failed in a row,
-- and the incident its failures opened (until a success recovers it). `last_run_id` only grows,
-- so each run's outcome is counted once whichever process sees it finish.
CREATE TABLE check_state (
    name                 TEXT PRIMARY KEY,
    last_run_id          BIGINT NOT NULL,
    last_state           TEXT   NOT NULL,
    last_finished_at     BIGINT NOT NULL,
    last_success_at      BIGINT,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    incident_id          BIGINT REFERENCES incidents (id)
);

-- Discord Scheduled Events announcing drills: written when a drill comes within its
-- `announce_ahead`, one per (drill, slot), created once by the gateway holder.
CREATE TABLE drill_announcements (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    drill            TEXT   NOT NULL,
    starts_at        BIGINT NOT NULL,
    title            TEXT   NOT NULL,
    description      TEXT   NOT NULL,
    created_at       BIGINT NOT NULL,
    discord_event_id BIGINT,
    done_at          BIGINT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    outcome          TEXT,
    UNIQUE (drill, starts_at)
);

CREATE INDEX drill_announcements_pending ON drill_announcements (id) WHERE done_at IS NULL;
