-- The hand-written alternative queuecast replaces, given the same
-- commit-order guarantee: a deferred PL/pgSQL constraint trigger that takes a
-- transaction-scoped advisory lock at commit, draws a seq, inserts
-- row_to_json() history and calls pg_notify().
ALTER TABLE queuecast.phases DISABLE TRIGGER capture;

CREATE SEQUENCE bench_seq;
CREATE TABLE bench_history (
    seq          bigint PRIMARY KEY,
    table_name   text NOT NULL,
    op           text NOT NULL,
    row_data     json,
    txid         xid8 NOT NULL,
    committed_at timestamptz NOT NULL
);

CREATE FUNCTION bench_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(4242);
    s := nextval('bench_seq');
    INSERT INTO bench_history
    VALUES (s, TG_TABLE_NAME, TG_OP, row_to_json(coalesce(NEW, OLD)), pg_current_xact_id(),
            clock_timestamp());
    PERFORM pg_notify('bench', json_build_object('seq', s, 'op', TG_OP,
                                                 'id', coalesce(NEW.id, OLD.id))::text);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER bench_capture AFTER INSERT OR UPDATE OR DELETE ON queuecast.phases
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bench_capture();
