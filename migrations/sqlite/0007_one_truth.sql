-- The database is the bus (SPEC §8): what Discord has been shown, singleton duties, and the
-- Discord events already acted on, so several warroom processes do everything once.
-- (Other processes notice new commits through `PRAGMA data_version`; nothing to install.)

-- How far each incident's timeline has been projected into Discord (cards, announcements,
-- channel lines). Incidents from before this migration were shown by the old in-process
-- path, so they start caught up.
ALTER TABLE incidents ADD COLUMN shown_seq BIGINT NOT NULL DEFAULT 0;
UPDATE incidents SET shown_seq = last_seq;
-- The projector looks only at incidents with something not yet shown.
CREATE INDEX incidents_unshown ON incidents (id) WHERE shown_seq < last_seq;

-- Run cards in Discord: the last audit entry of the run the card shows (NULL: no card to keep
-- current, or the card shows the run's end).
ALTER TABLE runs ADD COLUMN card_shown BIGINT;

-- A singleton duty (the Discord gateway) held by one process until `until` (ms), renewed
-- while it lives; whoever finds it lapsed takes it.
CREATE TABLE leases (
    name   TEXT   PRIMARY KEY,
    holder TEXT   NOT NULL,
    until  BIGINT NOT NULL
);

-- Discord events and effects claimed before anything visible happens: an interaction id, an
-- incident's room. A second delivery (another session, a replay, a takeover) finds the claim.
CREATE TABLE discord_claims (
    claim_key  TEXT   PRIMARY KEY,
    holder     TEXT   NOT NULL,
    claimed_at BIGINT NOT NULL
);
CREATE INDEX discord_claims_age ON discord_claims (claimed_at);
