-- The timers and DM outbox triggers of 0010 notified `warroom_changes` after every statement,
-- also one that changed no row. The timer engine's claim is an UPDATE that usually matches
-- nothing; its notification woke every process's timer engine (and escalation engine,
-- projector, ...), whose claims notified again: an idle warroom on PostgreSQL spun a core
-- at thousands of empty transactions a second. These triggers notify only when a row was
-- written. (A trigger with transition tables takes one event, hence one per event.)

CREATE FUNCTION warroom_notify_rows() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        PERFORM pg_notify('warroom_changes', '');
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER timers_notify ON timers;
CREATE TRIGGER timers_notify_insert AFTER INSERT ON timers
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION warroom_notify_rows();
CREATE TRIGGER timers_notify_update AFTER UPDATE ON timers
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION warroom_notify_rows();

DROP TRIGGER discord_outbox_notify ON discord_outbox;
CREATE TRIGGER discord_outbox_notify AFTER INSERT ON discord_outbox
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION warroom_notify_rows();
