// The doorbell rung outside writers' transactions (docs/capture.md, "The
// doorbell").
//
// A transaction that NOTIFYs takes PostgreSQL's cluster-wide NOTIFY lock at
// pre-commit and holds it until its commit has been flushed, so every
// notifying commit of the cluster waits for the previous one's flush. With
// `shared_preload_libraries = 'queuecast'` writers never NOTIFY: after its
// commit is visible, a capturing transaction adds its seq range to its
// database's slot in shared memory (extension/doorbell_shmem.hpp) and sets
// the latch of that database's worker, which rings one NOTIFY for whatever
// has committed since its last ring, in a transaction of its own that does
// not wait for a flush.
//
// The processes: a launcher (a static background worker, restarted by the
// postmaster when it dies) starts a worker for a database when that
// database's slot has a bell pending and no worker; a worker exits after
// queuecast.doorbell_idle_timeout without a bell (so it does not hold a
// database that someone wants to drop) and is started again by the next
// bell.
//
// Without preloading (or with queuecast.doorbell = in_transaction) the
// writer's transaction NOTIFYs itself, as before.
#pragma once

#include <cstdint>

#include "notify_payload.hpp"
#include "pg.hpp"

namespace queuecast {

// Called from _PG_init: the settings; while preloading, the shared memory
// and the launcher too.
void doorbell_init();

// At pre-commit of a transaction that captured changes: true if a worker
// will ring for it (then the transaction must not NOTIFY, and must call
// doorbell_committed once it has committed). Never raises an ERROR.
bool doorbell_worker_rings();

// In XACT_EVENT_COMMIT (the transaction is visible): hands the
// transaction's changes to the worker. Never raises an ERROR and never waits.
void doorbell_committed(const seq_range& range, TimestampTz committed_at);

// queuecast.doorbell_idle_timeout in milliseconds; 0: a worker never exits.
int doorbell_idle_timeout_ms();
// queuecast.doorbell_interval: the least time between two rings of a worker.
int doorbell_interval_ms();

// A TimestampTz (microseconds since 2000-01-01) in microseconds since the
// Unix epoch, as payloads carry it.
std::int64_t unix_micros(TimestampTz t);

}  // namespace queuecast
