#include "doorbell.hpp"

#include "doorbell_shmem.hpp"

namespace queuecast {

namespace {

enum doorbell_mode { mode_auto, mode_in_transaction };

const config_enum_entry mode_options[] = {
    {"auto", mode_auto, false},
    {"in_transaction", mode_in_transaction, false},
    {nullptr, 0, false},
};

int mode = mode_auto;
int idle_timeout_s = 60;
int interval_ms = 1;

void define_settings() {
  DefineCustomEnumVariable(
      "queuecast.doorbell", "Who rings NOTIFY queuecast for a capturing transaction.",
      "auto: a background worker after the commit when queuecast is in "
      "shared_preload_libraries, else the transaction itself; in_transaction: always "
      "the transaction itself (it then holds PostgreSQL's NOTIFY lock through its commit).",
      &mode, mode_auto, mode_options, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "queuecast.doorbell_idle_timeout",
      "A database's doorbell worker exits after this long without a bell (0: never).",
      "The next bell starts it again. A running worker is connected to its database, "
      "so DROP DATABASE without FORCE waits for it to exit.",
      &idle_timeout_s, 60, 0, 24 * 3600, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "queuecast.doorbell_interval",
      "The least time between two rings of a database's doorbell worker (0: ring at once).",
      "Commits within it share one NOTIFY: each ring is a transaction of the worker's own, "
      "and under load one per commit costs the writers CPU. A change waits at most this "
      "long longer for its bell.",
      &interval_ms, 1, 0, 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
}

void register_launcher() {
  BackgroundWorker worker{};
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  // NOTIFY is refused during recovery, and no capturing commit happens there.
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  // Restarted after it dies; after a crash of the cluster, with the cluster.
  worker.bgw_restart_time = 5;
  strlcpy(worker.bgw_library_name, "queuecast", BGW_MAXLEN);
  strlcpy(worker.bgw_function_name, "queuecast_doorbell_launcher_main", BGW_MAXLEN);
  strlcpy(worker.bgw_name, "queuecast doorbell launcher", BGW_MAXLEN);
  strlcpy(worker.bgw_type, "queuecast doorbell launcher", BGW_MAXLEN);
  RegisterBackgroundWorker(&worker);
}

}  // namespace

void doorbell_init() {
  define_settings();
  if (!process_shared_preload_libraries_in_progress) return;
  doorbell::install_shmem_hooks();
  register_launcher();
}

bool doorbell_worker_rings() {
  if (mode == mode_in_transaction) return false;
  return doorbell::worker_available(MyDatabaseId);
}

void doorbell_committed(const seq_range& range, TimestampTz committed_at) {
  // A false return (every slot busy) loses this bell: readers see these
  // changes at the next bell (they read everything past what they applied)
  // or at their next probe (docs/capture.md).
  (void)doorbell::publish(MyDatabaseId, doorbell::pending_bell{range, committed_at});
}

int doorbell_idle_timeout_ms() {
  return idle_timeout_s * 1000;
}

int doorbell_interval_ms() {
  return interval_ms;
}

std::int64_t unix_micros(TimestampTz t) {
  return t + (std::int64_t)(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

}  // namespace queuecast
