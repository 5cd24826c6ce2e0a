// The doorbell's shared memory (only with shared_preload_libraries): one slot
// per database whose writers have committed capturing transactions. A slot
// holds what committed since the worker last rang (the pending bell) and who
// rings for that database. Writers, the launcher and the per-database workers
// meet here (extension/doorbell.hpp explains the roles).
//
// Every operation takes one spinlock for a few dozen instructions, never
// allocates and never raises an ERROR: writers call it after their commit.
#pragma once

#include <cstdint>

#include "notify_payload.hpp"
#include "pg.hpp"

namespace queuecast::doorbell {

// Databases that can have a worker at the same time. A database beyond that
// rings in its writers' transactions, as without preloading.
constexpr int max_databases = 64;

// What committed since the last ring; range.count 0: nothing.
struct pending_bell {
  seq_range range;
  TimestampTz at = 0;  // commit time of range.last
};

// Adds `more` to `into`: the union of the ranges, the commit time of the
// larger last seq.
void merge(pending_bell& into, const pending_bell& more);

// Installs the shmem request and startup hooks; _PG_init calls it while
// preloading. Without it every function below finds no shared state.
void install_shmem_hooks();
bool shmem_available();

// --- writers ---------------------------------------------------------------
// True if a worker will ring for this database's commits: a slot is held for
// it and a worker runs, or the launcher runs and will start one.
bool worker_available(Oid database);
// Adds a committed transaction's changes to its database's pending bell and
// wakes its worker (or the launcher when none runs). False if no slot could
// be had: the bell is lost (more than max_databases ringing at once).
bool publish(Oid database, const pending_bell& bell);

// --- the launcher ----------------------------------------------------------
void launcher_attach(Latch* latch);
void launcher_detach();
// A slot the launcher must start a worker for: it has a pending bell (or the
// last start failed) and no worker. InvalidOid: none.
Oid needs_worker(int slot);
// The outcome of RegisterDynamicBackgroundWorker for a slot; returns whether
// the previous start had failed too (so a failure is logged once).
bool launch_result(int slot, Oid database, bool started);

// --- a database's worker ---------------------------------------------------
// Takes the slot of `database` for the calling worker; -1 if there is none
// (nothing to ring) or another worker has it.
int worker_attach(Oid database, pid_t pid, Latch* latch);
// Moves the pending bell into *bell; false if there is none.
bool take(int slot, Oid database, pending_bell* bell);
// Gives back a bell that could not be rung (merged with newer ones).
void give_back(int slot, Oid database, const pending_bell& bell);
// Frees the slot if nothing is pending; true if freed (the worker may exit).
bool release_if_idle(int slot, Oid database);
// The worker is exiting: a pending bell stays for its successor (the
// launcher is woken to start one), unless the database could not be
// connected to (dropped, or not accepting connections): then the slot is freed.
void worker_detach(int slot, Oid database, pid_t pid, bool connected);

}  // namespace queuecast::doorbell
