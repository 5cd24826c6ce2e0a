// A small blocking libpq session for tests: run SQL, read values, wait for
// notifications. Failures throw with the server's message so a test failure
// says what the database said.
#pragma once

#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace qc_test {

// The connection string of the database a suite works in (PGHOST/PGPORT/
// PGUSER come from the harness's environment).
inline std::string conninfo(const std::string& database) {
  return "dbname=" + database;
}

class pg_session {
 public:
  explicit pg_session(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string message = PQerrorMessage(conn_);
      PQfinish(conn_);
      throw std::runtime_error("connect failed: " + message);
    }
    // Tests kill backends on purpose: their notices are kept for the tests
    // that look (notices()), out of the output.
    PQsetNoticeReceiver(
        conn_,
        [](void* self, const PGresult* res) {
          const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
          const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
          static_cast<pg_session*>(self)->notices_.push_back(std::string(primary ? primary : "") +
                                                             " | " + (detail ? detail : ""));
        },
        this);
  }
  ~pg_session() { PQfinish(conn_); }
  pg_session(const pg_session&) = delete;
  pg_session& operator=(const pg_session&) = delete;

  // Runs sql; throws on error with the SQLSTATE in front of the message.
  void exec(const std::string& sql) { check(PQexec(conn_, sql.c_str()), sql); }

  // Runs sql and returns the error's SQLSTATE, or "" when it succeeded.
  std::string exec_sqlstate(const std::string& sql, std::string* message = nullptr) {
    PGresult* res = PQexec(conn_, sql.c_str());
    std::string state;
    if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
      const char* code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      state = code ? code : "?????";
      if (message) *message = PQresultErrorMessage(res);
    }
    PQclear(res);
    return state;
  }

  // All rows of the first column (null as nullopt).
  std::vector<std::optional<std::string>> column(const std::string& sql) {
    PGresult* res = check(PQexec(conn_, sql.c_str()), sql, true);
    std::vector<std::optional<std::string>> values;
    for (int row = 0; row < PQntuples(res); ++row) {
      if (PQgetisnull(res, row, 0)) {
        values.emplace_back(std::nullopt);
      } else {
        values.emplace_back(PQgetvalue(res, row, 0));
      }
    }
    PQclear(res);
    return values;
  }

  std::string value(const std::string& sql) {
    auto values = column(sql);
    if (values.empty() || !values.front()) throw std::runtime_error("no value from: " + sql);
    return *values.front();
  }

  long long number(const std::string& sql) { return std::stoll(value(sql)); }

  // Notifications received within `wait` (returns early after the first one
  // if stop_after_first; otherwise collects until `wait` is over).
  std::vector<std::string> notifications(std::chrono::milliseconds wait, bool stop_after_first) {
    std::vector<std::string> payloads;
    for (auto& note : notifications_from(wait, stop_after_first))
      payloads.push_back(std::move(note.payload));
    return payloads;
  }

  struct notification {
    int sender_pid;
    std::string payload;
  };

  // The same, with the pid of the server process that sent each one.
  std::vector<notification> notifications_from(std::chrono::milliseconds wait,
                                               bool stop_after_first) {
    std::vector<notification> notes;
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (true) {
      PQconsumeInput(conn_);
      while (PGnotify* note = PQnotifies(conn_)) {
        notes.push_back({note->be_pid, note->extra});
        PQfreemem(note);
      }
      if (stop_after_first && !notes.empty()) return notes;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return notes;
      pollfd fd{PQsocket(conn_), POLLIN, 0};
      poll(&fd, 1, static_cast<int>(left.count()));
    }
  }

  // For statements that block (a COMMIT waiting on purpose): send it, and
  // wait for its result later with finish().
  void send(const std::string& sql) {
    if (!PQsendQuery(conn_, sql.c_str())) throw std::runtime_error(PQerrorMessage(conn_));
  }
  // True while what send() sent has not finished.
  bool busy() {
    PQconsumeInput(conn_);
    return PQisBusy(conn_);
  }
  // The SQLSTATE of what send() sent ("" if it succeeded), or "timeout" when
  // it has not returned within `wait`; reads every result.
  std::string finish(std::chrono::milliseconds wait = std::chrono::hours(1)) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (busy()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "timeout";
      pollfd fd{PQsocket(conn_), POLLIN, 0};
      poll(&fd, 1, static_cast<int>(left.count()));
    }
    std::string state;
    while (PGresult* res = PQgetResult(conn_)) {
      if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
        const char* code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        state = code ? code : "?????";
      }
      PQclear(res);
    }
    return state;
  }
  // What the server said besides results (warnings, notices), in order.
  const std::vector<std::string>& notices() const { return notices_; }
  int pid() { return PQbackendPID(conn_); }

 private:
  PGresult* check(PGresult* res, const std::string& sql, bool keep = false) {
    ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      const char* code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      std::string message = std::string(code ? code : "") + " " + PQresultErrorMessage(res);
      PQclear(res);
      throw std::runtime_error(message + " in: " + sql.substr(0, 200));
    }
    if (!keep) {
      PQclear(res);
      return nullptr;
    }
    return res;
  }

  PGconn* conn_;
  std::vector<std::string> notices_;
};

// Creates (or re-creates) a database with the extension for one suite.
inline void create_database(const std::string& name) {
  pg_session admin("dbname=postgres");
  admin.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  admin.exec("CREATE DATABASE " + name);
  pg_session db(conninfo(name));
  db.exec("CREATE EXTENSION queuecast");
}

}  // namespace qc_test
