-- Messages that show an incident somewhere (its summary card), so they can be edited when
-- the incident changes, also after a restart. Ids are Discord snowflakes.

CREATE TABLE incident_posts (
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    kind        TEXT   NOT NULL,
    channel_id  BIGINT NOT NULL,
    message_id  BIGINT NOT NULL,
    PRIMARY KEY (incident_id, kind)
);
