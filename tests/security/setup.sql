-- Login roles for the privilege tests, each set up exactly as
-- docs/security.md tells a site to: one group role granted, nothing else.
-- Run as the superuser in the suite's database before the tests.
DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['qc_worker', 'qc_operator', 'qc_reader', 'qc_writer', 'qc_nobody',
                                  'qc_trudy', 'qc_mallory'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', v_role);
        END IF;
    END LOOP;
END $$;
GRANT queuecast_worker TO qc_worker;
GRANT queuecast_operator TO qc_operator;
GRANT queuecast_reader TO qc_reader;
GRANT queuecast_writer TO qc_writer;
-- qc_nobody: a login role and nothing more.
-- qc_trudy: the escalation attacker of the security review: TRUNCATE on the
-- phases table and a schema of her own.
GRANT USAGE ON SCHEMA queuecast TO qc_trudy;
GRANT TRUNCATE ON queuecast.phases TO qc_trudy;
CREATE SCHEMA IF NOT EXISTS trudy AUTHORIZATION qc_trudy;
-- qc_mallory: a worker and an operator who plants shadows in her own schema.
GRANT queuecast_worker, queuecast_operator TO qc_mallory;
CREATE SCHEMA IF NOT EXISTS evil AUTHORIZATION qc_mallory;

-- Fixed data the role tests start from (each test file rolls back).
SELECT queuecast.create_queue('q');
SELECT queuecast.enqueue('q', 'queued one');
SELECT queuecast.create_workflow('q', 'wf', ARRAY['first', 'second']);
