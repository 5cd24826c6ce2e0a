-- The baseline relay's doorbell (and the limit writer's): every row change
-- of queuecast.phases NOTIFYs channel queue_changed with the queue's name.
-- What a team writes by hand today; bench/fanout_realistic.sh installs it
-- for the relay's and the limit writer's runs only and drops it afterwards,
-- so queuecastd's runs do not pay for it.
CREATE FUNCTION public.relay_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('queue_changed', OLD.queue);
  ELSE
    PERFORM pg_notify('queue_changed', NEW.queue);
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER relay_notify AFTER INSERT OR UPDATE OR DELETE ON queuecast.phases
  FOR EACH ROW EXECUTE FUNCTION public.relay_notify();
