-- The naive alternative (bench/commit_scaling.sh): queuecast's capture off and
-- a PL/pgSQL row trigger that sends each changed row with pg_notify(). No
-- history and no ordering guarantee (a listener that misses a notification
-- never learns of the change), but every writer still takes PostgreSQL's
-- cluster-wide NOTIFY lock at pre-commit and holds it through its commit.
ALTER TABLE queuecast.phases DISABLE TRIGGER capture;

CREATE FUNCTION bench_naive_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('queuecast', row_to_json(coalesce(NEW, OLD))::text);
    RETURN NULL;
END $$;

CREATE TRIGGER bench_naive_notify AFTER INSERT OR UPDATE OR DELETE ON queuecast.phases
    FOR EACH ROW EXECUTE FUNCTION bench_naive_notify();
