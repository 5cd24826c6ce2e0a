#include "doorbell_shmem.hpp"

#include <algorithm>
#include <new>

namespace queuecast::doorbell {

namespace {

struct slot {
  Oid database;      // InvalidOid: free
  pid_t worker_pid;  // 0: no worker holds the slot
  Latch* worker_latch;
  bool launch_failed;  // the launcher could not start a worker for it
  pending_bell pending;
};

struct shared_state {
  slock_t mutex;
  pid_t launcher_pid;  // 0: no launcher runs
  Latch* launcher_latch;
  slot slots[max_databases];
};

shared_state* state = nullptr;
shmem_request_hook_type previous_request_hook = nullptr;
shmem_startup_hook_type previous_startup_hook = nullptr;

void request_hook() {
  if (previous_request_hook) previous_request_hook();
  RequestAddinShmemSpace(sizeof(shared_state));
}

void startup_hook() {
  if (previous_startup_hook) previous_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  state = static_cast<shared_state*>(
      ShmemInitStruct("queuecast doorbell", sizeof(shared_state), &found));
  if (!found) {
    new (state) shared_state{};
    SpinLockInit(&state->mutex);
  }
  LWLockRelease(AddinShmemInitLock);
}

// Holds the spinlock for a scope. No ERROR can happen inside (nothing there
// allocates or calls PostgreSQL beyond the lock itself).
class locked {
 public:
  locked() { SpinLockAcquire(&state->mutex); }
  ~locked() { SpinLockRelease(&state->mutex); }
  locked(const locked&) = delete;
  locked& operator=(const locked&) = delete;
};

void clear(slot& s) {
  s = slot{};
}

// The database's slot; else a free one, else one that nobody uses at the
// moment (no worker, nothing pending): a database that stopped capturing (or
// was dropped) does not hold its slot forever. Caller holds the mutex.
slot* find_or_claim(Oid database) {
  slot* free_slot = nullptr;
  slot* idle_slot = nullptr;
  for (slot& s : state->slots) {
    if (s.database == database) return &s;
    if (s.database == InvalidOid) {
      if (!free_slot) free_slot = &s;
    } else if (s.worker_pid == 0 && s.pending.range.count == 0 && !s.launch_failed) {
      if (!idle_slot) idle_slot = &s;
    }
  }
  slot* claimed = free_slot ? free_slot : idle_slot;
  if (claimed) {
    clear(*claimed);
    claimed->database = database;
  }
  return claimed;
}

}  // namespace

void merge(pending_bell& into, const pending_bell& more) {
  if (more.range.count == 0) return;
  if (into.range.count == 0) {
    into = more;
    return;
  }
  if (more.range.last > into.range.last) into.at = more.at;
  into.range.first = std::min(into.range.first, more.range.first);
  into.range.last = std::max(into.range.last, more.range.last);
  into.range.count += more.range.count;
}

void install_shmem_hooks() {
  previous_request_hook = shmem_request_hook;
  shmem_request_hook = request_hook;
  previous_startup_hook = shmem_startup_hook;
  shmem_startup_hook = startup_hook;
}

bool shmem_available() {
  return state != nullptr;
}

bool worker_available(Oid database) {
  if (!state) return false;
  locked guard;
  slot* s = find_or_claim(database);
  return s && !s->launch_failed && (s->worker_pid != 0 || state->launcher_pid != 0);
}

bool publish(Oid database, const pending_bell& bell) {
  if (!state) return false;
  Latch* wake = nullptr;
  {
    locked guard;
    slot* s = find_or_claim(database);
    if (!s) return false;
    merge(s->pending, bell);
    wake = s->worker_pid != 0 ? s->worker_latch : state->launcher_latch;
  }
  if (wake) SetLatch(wake);
  return true;
}

void launcher_attach(Latch* latch) {
  locked guard;
  state->launcher_pid = MyProcPid;
  state->launcher_latch = latch;
}

void launcher_detach() {
  locked guard;
  if (state->launcher_pid != MyProcPid) return;
  state->launcher_pid = 0;
  state->launcher_latch = nullptr;
}

Oid needs_worker(int index) {
  locked guard;
  const slot& s = state->slots[index];
  bool wanted = s.database != InvalidOid && s.worker_pid == 0 &&
                (s.pending.range.count > 0 || s.launch_failed);
  return wanted ? s.database : InvalidOid;
}

bool launch_result(int index, Oid database, bool started) {
  locked guard;
  slot& s = state->slots[index];
  if (s.database != database) return false;
  bool failed_before = s.launch_failed;
  s.launch_failed = !started;
  return failed_before;
}

int worker_attach(Oid database, pid_t pid, Latch* latch) {
  locked guard;
  for (int index = 0; index < max_databases; ++index) {
    slot& s = state->slots[index];
    if (s.database != database) continue;
    if (s.worker_pid != 0) return -1;
    s.worker_pid = pid;
    s.worker_latch = latch;
    s.launch_failed = false;
    return index;
  }
  return -1;
}

bool take(int index, Oid database, pending_bell* bell) {
  locked guard;
  slot& s = state->slots[index];
  if (s.database != database || s.pending.range.count == 0) return false;
  *bell = s.pending;
  s.pending = pending_bell{};
  return true;
}

void give_back(int index, Oid database, const pending_bell& bell) {
  locked guard;
  slot& s = state->slots[index];
  if (s.database == database) merge(s.pending, bell);
}

bool release_if_idle(int index, Oid database) {
  locked guard;
  slot& s = state->slots[index];
  if (s.database != database || s.pending.range.count != 0) return false;
  clear(s);
  return true;
}

void worker_detach(int index, Oid database, pid_t pid, bool connected) {
  Latch* wake = nullptr;
  {
    locked guard;
    slot& s = state->slots[index];
    if (s.database != database || s.worker_pid != pid) return;
    s.worker_pid = 0;
    s.worker_latch = nullptr;
    if (!connected || s.pending.range.count == 0) {
      clear(s);
    } else {
      wake = state->launcher_latch;
    }
  }
  if (wake) SetLatch(wake);
}

}  // namespace queuecast::doorbell
