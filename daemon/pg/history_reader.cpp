#include "history_reader.hpp"

namespace queuecast {

namespace {

// Beyond this many touched rows a fresh snapshot is cheaper than a replay.
constexpr std::size_t replay_row_limit = 200000;

std::int64_t to_seq(const char* text, const char* what) {
  try {
    std::size_t used = 0;
    std::int64_t value = std::stoll(text, &used);
    if (text[used] != '\0') throw std::invalid_argument(text);
    return value;
  } catch (const std::exception&) {
    throw pg_failure(std::string(what) + " is not a number: '" + std::string(text).substr(0, 40) +
                     "'");
  }
}

std::vector<std::optional<std::string>> seq_params(std::int64_t a, std::int64_t b) {
  std::vector<std::optional<std::string>> params;
  params.emplace_back(std::to_string(a));
  params.emplace_back(std::to_string(b));
  return params;
}

// A phase as queuecast.phase_json() shows it, built here from its columns:
// PostgreSQL building 100 000 JSON objects (a function call with its own
// SET timezone each) takes four times as long as sending the columns.
// Timestamps come as to_json() text, so they are encoded exactly as in SQL.
enum class column_kind { integer, text, json_text };
struct phase_column {
  const char* name;
  column_kind kind;
};
constexpr phase_column phase_columns[] = {
    {"id", column_kind::integer},           {"queue", column_kind::text},
    {"workflow_id", column_kind::integer},  {"phase_number", column_kind::integer},
    {"title", column_kind::text},           {"status", column_kind::text},
    {"position", column_kind::integer},     {"priority", column_kind::integer},
    {"worker", column_kind::text},          {"attempts", column_kind::integer},
    {"max_attempts", column_kind::integer}, {"error", column_kind::text},
    {"created_at", column_kind::json_text}, {"updated_at", column_kind::json_text},
    {"started_at", column_kind::json_text}, {"finished_at", column_kind::json_text}};

std::string phase_select_list() {
  std::string list;
  for (const phase_column& c : phase_columns) {
    if (!list.empty()) list += ", ";
    list += c.kind == column_kind::json_text ? "to_json(p." + std::string(c.name) + ")"
                                             : "p." + std::string(c.name);
  }
  return list;
}

json::object phase_from_columns(const PGresult& row, int first) {
  json::object phase;
  phase.reserve(std::size(phase_columns));
  int column = first;
  for (const phase_column& c : phase_columns) {
    json::value& field = phase[c.name];
    if (!PQgetisnull(&row, 0, column)) {
      const char* text = PQgetvalue(&row, 0, column);
      switch (c.kind) {
        case column_kind::integer:
          field = std::stoll(text);
          break;
        case column_kind::text:
          field = text;
          break;
        case column_kind::json_text:
          field = json::parse(text);
          break;
      }
    }
    ++column;
  }
  return phase;
}

// Streamed (queue, paused, phase) rows, grouped by queue: each queue is
// handed to the builder whole, and no single value is larger than one phase
// (no 1 GB datum limit, no whole-database JSON).
class queue_collector {
 public:
  explicit queue_collector(state_builder& built) : built_(built) {}
  void take(const PGresult& row) {
    std::string name = PQgetvalue(&row, 0, 0);
    if (!started_ || name != queue_) {
      finish();
      started_ = true;
      queue_ = std::move(name);
      paused_ = std::string_view(PQgetvalue(&row, 0, 1)) == "t";
    }
    if (!PQgetisnull(&row, 0, 2)) phases_.push_back(phase_from_columns(row, 2));
  }
  void finish() {
    if (!started_) return;
    built_.add_queue(queue_, json::object{{"phases", std::move(phases_)}, {"paused", paused_}});
    phases_ = json::array();
    started_ = false;
  }

 private:
  state_builder& built_;
  bool started_ = false;
  std::string queue_;
  bool paused_ = false;
  json::array phases_;
};

// One history row as JSON, as change_from_json() reads it.
constexpr const char* history_row_json =
    "json_build_object('seq', seq, 'topic', topic, 'entity', entity, 'key', key, "
    "'op', op, 'data', data, 'old_data', old_data, "
    "'at', (extract(epoch FROM committed_at) * 1e6)::bigint)";

// Appends one row; false (and the batch emptied, judged unreadable) when it
// does not parse.
bool add_row(history_batch& batch, const char* text, std::int64_t after_seq) {
  try {
    batch.rows.push_back(change_from_json(json::parse(text).as_object()));
    return true;
  } catch (const std::exception& e) {
    std::int64_t previous = batch.rows.empty() ? after_seq : batch.rows.back().seq;
    batch.judgement = {
        history_verdict::unreadable,
        "history row after seq " + std::to_string(previous) + " cannot be read: " + e.what()};
    batch.rows.clear();
    return false;
  }
}

}  // namespace

history_judgement judge(const history_position& database, const std::string& our_id,
                        std::int64_t our_seq, std::int64_t needed_after) {
  if (database.id != our_id)
    return {history_verdict::replaced,
            "the database's history was replaced (extension re-created)"};
  if (database.current < our_seq)
    return {history_verdict::went_back, "the database's history went back from seq " +
                                            std::to_string(our_seq) + " to " +
                                            std::to_string(database.current)};
  if (database.resumable > needed_after)
    return {history_verdict::pruned_past,
            "history was pruned past seq " + std::to_string(needed_after)};
  return {};
}

asio::awaitable<history_position> history_reader::begin_snapshot(const char* tables_to_lock) {
  // LOCK needs no snapshot, so the transaction's snapshot is taken by the
  // SELECT after it: a TRUNCATE that holds the tables is then either before
  // the snapshot (we waited for it) or after our reads.
  std::string lock = tables_to_lock
                         ? std::string("LOCK TABLE ") + tables_to_lock + " IN ACCESS SHARE MODE; "
                         : std::string();
  pg_result result = co_await conn_.query(
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; " + lock +
      "SELECT queuecast.current_seq(), queuecast.resumable_from(), queuecast.history_id()");
  history_position position;
  position.current = to_seq(PQgetvalue(result.get(), 0, 0), "current_seq()");
  position.resumable = to_seq(PQgetvalue(result.get(), 0, 1), "resumable_from()");
  position.id = PQgetvalue(result.get(), 0, 2);
  co_return position;
}

asio::awaitable<void> history_reader::end_snapshot() {
  co_await conn_.query("COMMIT");
}

asio::awaitable<loaded_state> history_reader::load() {
  // TRUNCATE is not MVCC-safe: a snapshot taken before a TRUNCATE commits
  // reads the truncated table as empty, rows re-inserted by the same
  // transaction included (the chaos test saw a load with no queues at all,
  // and clients told `unknown_topic`). Locking the tables first keeps any
  // TRUNCATE either wholly inside our snapshot or wholly after it.
  history_position position =
      co_await begin_snapshot("queuecast.queues, queuecast.phases, queuecast.workflows");
  loaded_state loaded{position, state_builder(position.current)};
  queue_collector queues(loaded.state);
  // to_json() of a timestamptz follows the session's time zone; phase_json() uses UTC.
  co_await conn_.query("SET LOCAL timezone = 'UTC'");
  co_await conn_.stream("SELECT q.name, q.paused, " + phase_select_list() +
                            " FROM queuecast.queues q LEFT JOIN queuecast.phases p ON p.queue = "
                            "q.name ORDER BY q.name",
                        [&queues](const PGresult& row) { queues.take(row); });
  queues.finish();
  state_builder& built = loaded.state;
  co_await conn_.stream("SELECT queuecast.workflow_json(w) FROM queuecast.workflows w",
                        [&built](const PGresult& row) {
                          built.add_workflow(json::parse(PQgetvalue(&row, 0, 0)).as_object());
                        });
  co_await end_snapshot();
  co_return loaded;
}

// A full batch is extended to the end of its last transaction: applying
// part of a transaction would show clients a state that was never committed
// (half a TRUNCATE-and-refill, a queue deleted that its transaction re-creates).
// A transaction's rows are contiguous in seq order (DESIGN.md).
// The usual catch-up, a few rows after a commit, in one round trip: one
// statement sees one snapshot, so the position it reads and the rows agree
// without a transaction around them (three round trips). Only a full batch,
// which may end inside a transaction, takes the REPEATABLE READ path.
asio::awaitable<history_batch> history_reader::read_after(const std::string& our_id,
                                                          std::int64_t after_seq,
                                                          std::size_t limit) {
  pg_result result = co_await conn_.query(
      "WITH position AS (SELECT queuecast.current_seq() AS current, "
      "queuecast.resumable_from() AS resumable, queuecast.history_id() AS id) "
      "SELECT p.current, p.resumable, p.id, r.row FROM position p LEFT JOIN LATERAL ("
      "SELECT seq, " +
          std::string(history_row_json) +
          " AS row FROM queuecast.changes WHERE seq > $1 ORDER BY seq LIMIT $2) r ON true "
          "ORDER BY r.seq",
      seq_params(after_seq, static_cast<std::int64_t>(limit)));
  std::size_t n = PQntuples(result.get());
  if (n == 0) throw pg_failure("the catch-up read returned no position");
  history_position position{to_seq(PQgetvalue(result.get(), 0, 0), "current_seq()"),
                            to_seq(PQgetvalue(result.get(), 0, 1), "resumable_from()"),
                            PQgetvalue(result.get(), 0, 2)};
  history_batch batch{judge(position, our_id, after_seq, after_seq), {}};
  if (!batch.judgement.follows() || PQgetisnull(result.get(), 0, 3)) co_return batch;
  if (n >= limit) co_return co_await read_whole_transactions(our_id, after_seq, limit);
  batch.rows.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!add_row(batch, PQgetvalue(result.get(), i, 3), after_seq)) break;
  }
  co_return batch;
}

asio::awaitable<history_batch> history_reader::read_whole_transactions(const std::string& our_id,
                                                                       std::int64_t after_seq,
                                                                       std::size_t limit) {
  history_position position = co_await begin_snapshot();
  history_batch batch{judge(position, our_id, after_seq, after_seq), {}};
  std::string last_txid;
  std::int64_t from = after_seq;
  while (batch.judgement.follows() && position.current > from) {
    pg_result result = co_await conn_.query(
        "SELECT " + std::string(history_row_json) +
            ", txid FROM queuecast.changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        seq_params(from, static_cast<std::int64_t>(limit)));
    std::size_t n = PQntuples(result.get());
    bool extending = !last_txid.empty();
    std::size_t taken = 0;
    for (; taken < n; ++taken) {
      if (extending && last_txid != PQgetvalue(result.get(), taken, 1)) break;
      if (!add_row(batch, PQgetvalue(result.get(), taken, 0), after_seq)) break;
    }
    // Done unless the read was full and its last transaction may go on.
    if (taken < limit || batch.rows.empty()) break;
    last_txid = PQgetvalue(result.get(), taken - 1, 1);
    from = batch.rows.back().seq;
  }
  co_await end_snapshot();
  co_return batch;
}

asio::awaitable<touched_rows> history_reader::read_touched(const std::string& our_id,
                                                           std::int64_t since, std::int64_t upto) {
  history_position position = co_await begin_snapshot();
  touched_rows touched{judge(position, our_id, upto, since), std::nullopt};
  if (touched.judgement.follows()) {
    pg_result result = co_await conn_.query(
        "SELECT entity, key, op, topic, coalesce(old_data->>'queue', ''), "
        "coalesce(data->>'workflow_id', ''), coalesce(old_data->>'workflow_id', '') "
        "FROM queuecast.changes WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT " +
            std::to_string(replay_row_limit + 1),
        seq_params(since, upto));
    std::size_t n = PQntuples(result.get());
    if (n <= replay_row_limit) {
      std::vector<touched_row> rows;
      rows.reserve(n);
      auto text = [&](std::size_t i, int column) { return PQgetvalue(result.get(), i, column); };
      for (std::size_t i = 0; i < n; ++i) {
        rows.push_back(touched_row{text(i, 0), text(i, 1), text(i, 2), text(i, 3), text(i, 4),
                                   text(i, 5), text(i, 6)});
      }
      touched.rows = std::move(rows);
    }
  }
  co_await end_snapshot();
  co_return touched;
}

asio::awaitable<history_judgement> history_reader::check(const std::string& our_id,
                                                         std::int64_t our_seq) {
  history_position position = co_await begin_snapshot();
  co_await end_snapshot();
  co_return judge(position, our_id, our_seq, our_seq);
}

// A disabled capture trigger (DISABLE TRIGGER, or ENABLE REPLICA) means
// commits that neither reach history nor ring the doorbell. Without the
// function (an older extension) or the right to call it, the answer is
// unknown; a failed statement is not a reason to drop the connection.
asio::awaitable<capture_report> history_reader::capture_status() {
  capture_report report;
  try {
    pg_result exists =
        co_await conn_.query("SELECT to_regprocedure('queuecast.capture_status()') IS NOT NULL");
    if (std::string_view(PQgetvalue(exists.get(), 0, 0)) != "t") co_return report;
    pg_result status = co_await conn_.query(
        "SELECT table_name, coalesce(detail, '') FROM queuecast.capture_status() "
        "WHERE capture_enabled IS NOT TRUE ORDER BY table_name");
    for (int i = 0; i < PQntuples(status.get()); ++i)
      report.disabled.emplace_back(PQgetvalue(status.get(), i, 0), PQgetvalue(status.get(), i, 1));
    report.known = true;
  } catch (const pg_failure& e) {
    if (!conn_.connected()) throw;  // the connection is gone: the caller reconnects
    report.error = e.what();
  }
  co_return report;
}

asio::awaitable<std::optional<std::int64_t>> history_reader::committed_at(std::int64_t seq) {
  std::vector<std::optional<std::string>> params;
  params.emplace_back(std::to_string(seq));
  pg_result result = co_await conn_.query(
      "SELECT (extract(epoch FROM committed_at) * 1e6)::bigint FROM queuecast.changes "
      "WHERE seq = $1",
      params);
  if (PQntuples(result.get()) == 0 || PQgetisnull(result.get(), 0, 0)) co_return std::nullopt;
  co_return std::stoll(PQgetvalue(result.get(), 0, 0));
}

// A holder that stays means every capturing commit of the database waits
// (docs/capture.md, "When the lock is held, and by whom"). Like
// capture_status(): unknown rather than fatal when it cannot be asked.
asio::awaitable<commit_order_report> history_reader::commit_order_holder() {
  commit_order_report report;
  try {
    pg_result exists = co_await conn_.query(
        "SELECT to_regprocedure('queuecast.commit_order_holder()') IS NOT NULL, "
        "to_regprocedure('queuecast.commit_order_stats()') IS NOT NULL");
    if (std::string_view(PQgetvalue(exists.get(), 0, 0)) != "t") co_return report;
    if (std::string_view(PQgetvalue(exists.get(), 0, 1)) == "t") {
      pg_result stats = co_await conn_.query(
          "SELECT acquisitions, contended, wait_ms / 1000, hold_ms / 1000, long_holds "
          "FROM queuecast.commit_order_stats()");
      if (PQntuples(stats.get()) == 1) {
        report.stats_known = true;
        report.acquisitions = std::stoll(PQgetvalue(stats.get(), 0, 0));
        report.contended = std::stoll(PQgetvalue(stats.get(), 0, 1));
        report.wait_seconds = std::stod(PQgetvalue(stats.get(), 0, 2));
        report.hold_seconds = std::stod(PQgetvalue(stats.get(), 0, 3));
        report.long_holds = std::stoll(PQgetvalue(stats.get(), 0, 4));
      }
    }
    pg_result holder = co_await conn_.query(
        "SELECT pid, coalesce(role_name, '?'), coalesce(application_name, ''), "
        "coalesce(extract(epoch FROM held_at_most), -1), waiters "
        "FROM queuecast.commit_order_holder()");
    report.known = true;
    if (PQntuples(holder.get()) == 0) co_return report;
    report.held = true;
    report.holder = std::string("pid ") + PQgetvalue(holder.get(), 0, 0) + " (" +
                    PQgetvalue(holder.get(), 0, 1) + ", " + PQgetvalue(holder.get(), 0, 2) + ")";
    report.held_seconds = std::stod(PQgetvalue(holder.get(), 0, 3));
    report.waiters = std::stoll(PQgetvalue(holder.get(), 0, 4));
  } catch (const pg_failure& e) {
    if (!conn_.connected()) throw;
    report.known = false;
  }
  co_return report;
}

asio::awaitable<double> history_reader::notify_queue_usage() {
  pg_result usage = co_await conn_.query("SELECT pg_notification_queue_usage()");
  co_return std::stod(PQgetvalue(usage.get(), 0, 0));
}

}  // namespace queuecast
