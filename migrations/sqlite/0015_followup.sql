-- After the incident (SPEC §1 "Review and action item"): each resolved incident's review and
-- its follow-up action items. Both are derived from timeline events in the transaction that
-- appends them (`review_*`, `action_item_*`, and the `status_changed` that resolves), so the
-- rows never disagree with the timeline; they exist so reports and reminders can ask for
-- them without reading timelines.

CREATE TABLE reviews (
    incident_id BIGINT PRIMARY KEY REFERENCES incidents (id),
    owner       TEXT   NOT NULL,
    owner_name  TEXT   NOT NULL,
    due_at      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    meeting_at  BIGINT,
    done_at     BIGINT,
    done_by     TEXT
);

CREATE TABLE action_items (
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    number      BIGINT NOT NULL,
    text        TEXT   NOT NULL,
    owner       TEXT   NOT NULL,
    owner_name  TEXT   NOT NULL,
    due_at      BIGINT NOT NULL,
    added_at    BIGINT NOT NULL,
    added_by    TEXT   NOT NULL,
    done_at     BIGINT,
    done_by     TEXT,
    PRIMARY KEY (incident_id, number)
);

CREATE INDEX action_items_open ON action_items (due_at) WHERE done_at IS NULL;
