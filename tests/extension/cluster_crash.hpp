// Killing and restarting the test cluster the way a crash does, for
// tests/extension/crash_test.cpp: `pg_ctl stop -m immediate`, or SIGKILL of
// the postmaster and of every child it had. The cluster comes from
// tests/harness/pgcluster.sh (PGCLUSTER_DATA, PGCLUSTER_LOG, PGPORT,
// PG_BINDIR); when we are root, pg_ctl runs as the postgres user.
#pragma once

#include <signal.h>
#include <sys/shm.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace qc_test::cluster {

using namespace std::chrono_literals;

inline std::string setting(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

// `command` as the cluster's owner (PostgreSQL refuses to run as root).
inline void run_as_owner(std::string command) {
  if (geteuid() == 0) command = "runuser -u postgres -- " + command;
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

inline std::string pg_ctl() {
  return setting("PG_BINDIR", "/usr/lib/postgresql/15/bin") + "/pg_ctl";
}

// The parent pid of a process (/proc/PID/stat, readable for any process;
// /proc/PID/cwd, which would name the cluster, is not without ptrace rights).
inline pid_t parent_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  auto end_of_name = line.rfind(')');  // the name may contain spaces
  if (end_of_name == std::string::npos) return -1;
  std::istringstream rest(line.substr(end_of_name + 2));
  char state = 0;
  pid_t parent = -1;
  rest >> state >> parent;
  return parent;
}

inline std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> pids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (parent_of(std::stoi(name)) == parent) pids.push_back(std::stoi(name));
  }
  return pids;
}

// How many processes are attached to the cluster's System V shared memory
// segment (postmaster.pid's 7th line: key and id). PostgreSQL refuses to
// start while this is not 0; -1 when the segment is gone.
inline long shared_memory_attached(const std::filesystem::path& data) {
  std::ifstream pidfile(data / "postmaster.pid");
  std::string line;
  for (int i = 0; i < 7 && std::getline(pidfile, line); ++i) {
  }
  std::istringstream fields(line);
  long key = 0, id = -1;
  fields >> key >> id;
  shmid_ds info{};
  if (id < 0 || shmctl(static_cast<int>(id), IPC_STAT, &info) != 0) return -1;
  return static_cast<long>(info.shm_nattch);
}

enum class crash_kind { immediate, sigkill };

// Kills the cluster; returns how many orphans had to be killed after the
// postmaster (0 for immediate: pg_ctl waits for every process to exit).
inline int crash(crash_kind kind) {
  const std::filesystem::path data =
      std::filesystem::canonical(setting("PGCLUSTER_DATA", "/nonexistent"));
  if (kind == crash_kind::immediate) {
    run_as_owner(pg_ctl() + " -D " + data.string() + " -m immediate -w stop >/dev/null");
    return 0;
  }
  std::ifstream pidfile(data / "postmaster.pid");
  pid_t postmaster = 0;
  pidfile >> postmaster;
  if (postmaster <= 0) throw std::runtime_error("no postmaster pid");
  if (shared_memory_attached(data) <= 0)
    throw std::runtime_error("cannot see who is attached to the shared memory");
  // Stopped, the postmaster forks no new child while its children are
  // listed; for the database, SIGSTOP then SIGKILL is one instant death.
  if (::kill(postmaster, SIGSTOP) != 0) throw std::runtime_error("cannot SIGSTOP the postmaster");
  std::vector<pid_t> children = children_of(postmaster);
  ::kill(postmaster, SIGKILL);
  // Its children would live on (backends finish what they are doing, then
  // notice the postmaster is gone); a crash takes them down with it.
  int orphans = 0;
  for (pid_t pid : children) orphans += ::kill(pid, SIGKILL) == 0;
  // A new postmaster refuses to start while a process is attached to the old
  // shared memory, or while the pid in postmaster.pid exists (even as a
  // zombie that init has not reaped yet).
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (shared_memory_attached(data) > 0 ||
         std::filesystem::exists("/proc/" + std::to_string(postmaster))) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("the killed cluster's processes do not go away");
    std::this_thread::sleep_for(20ms);
  }
  return orphans;
}

// Starts the cluster again (after SIGKILL pg_ctl warns about the stale
// postmaster.pid; the server checks that its pid is gone). A failure says
// what the server logged.
inline void start_cluster() {
  const std::string log = setting("PGCLUSTER_LOG", "/dev/null");
  try {
    run_as_owner(pg_ctl() + " -D " + setting("PGCLUSTER_DATA", "") + " -l " + log + " -o '-p " +
                 setting("PGPORT", "") + "' -w -t 60 start >/dev/null 2>&1");
  } catch (const std::exception& e) {
    std::ifstream in(log);
    std::string tail, line;
    while (std::getline(in, line))
      tail = tail.substr(tail.size() > 2000 ? tail.size() - 2000 : 0) + line + "\n";
    throw std::runtime_error(std::string(e.what()) + "\nserver log ends:\n" + tail);
  }
}

}  // namespace qc_test::cluster
