#include "api_routes.hpp"

#include "../pg/queue_stats_sql.hpp"
#include "../pg/sql_service.hpp"
#include "../util/log.hpp"
#include "../util/metrics.hpp"
#include "api_request.hpp"
#include "messages.hpp"
#include "stats_cache.hpp"

namespace queuecast {

namespace {

// application_name is at most 63 bytes of printable ASCII.
constexpr std::size_t max_actor_bytes = 63;

std::string_view role_name(auth::role access) {
  switch (access) {
    case auth::role::viewer:
      return "viewer";
    case auth::role::operator_:
      return "operator";
    case auth::role::admin:
      return "admin";
  }
  return "viewer";
}

// Who acted, as recorded in the history's application_name column.
std::string actor_of(const auth::principal& who) {
  std::string actor = "queuecastd " + std::string(role_name(who.access)) + " " + who.subject;
  for (char& c : actor)
    if (c < 0x20 || c > 0x7e) c = '?';
  if (actor.size() > max_actor_bytes) actor.resize(max_actor_bytes);
  return actor;
}

std::string topic_of_queue(const std::string& queue) {
  return std::string(queue_topic_prefix) + queue;
}

http_response answer(const http_request& req, http::status status, const json::object& body) {
  return json_reply(req, status, json::serialize(body));
}

// What the caller learns from a refused statement: the database's own words
// for the errors its SQL API raises on purpose, a pointer to the setup for
// missing privileges, nothing internal otherwise.
http_response failure_response(const http_request& req, const pg_failure& e) {
  const std::string& state = e.sqlstate;
  if (state == "55000" || state == "22023" || state == "23514")
    return error_response(req, http::status::conflict, "not_allowed_now", e.primary);
  if (state == "P0002") return error_response(req, http::status::not_found, "not_found", e.primary);
  if (state == "42501")
    return error_response(req, http::status::forbidden, "daemon_not_permitted",
                          "the daemon's actions role may not do this: GRANT queuecast_operator "
                          "TO the role of --actions-database");
  if (state.empty() || state.starts_with("08") || state.starts_with("57"))
    return error_response(req, http::status::service_unavailable, "database_unavailable",
                          "the database did not answer; try again");
  return error_response(req, http::status::internal_server_error, "database_error",
                        "the database refused the statement (logged)");
}

// The answers, built outside the coroutines below: GCC 12 warns wrongly
// (-Wmismatched-new-delete) about a JSON initializer list inside one.
http_response phase_done(const http_request& req, api_action action, const std::string& phase) {
  return answer(req, http::status::ok,
                {{"action", action_name(action)}, {"phase", json::parse(phase)}});
}

http_response queue_done(const http_request& req, const api_request& what, bool changed) {
  return answer(
      req, http::status::ok,
      {{"action", action_name(what.action)}, {"queue", what.queue}, {"changed", changed}});
}

http_response matching_done(const http_request& req, const api_request& what, int matched,
                            json::array done, json::array refused) {
  return answer(req, http::status::ok,
                {{"action", action_name(what.action)},
                 {"queue", what.queue},
                 {"matched", matched},
                 {"done", std::move(done)},
                 {"refused", std::move(refused)}});
}

// --- the statements: each a coroutine with its inputs by value ------------

using sql_params = std::vector<std::optional<std::string>>;

// The phase's queue, or nullopt when there is no such phase.
asio::awaitable<std::optional<std::string>> queue_of_phase(pg_connection& db, std::int64_t id) {
  sql_params params{std::to_string(id)};
  pg_result r = co_await db.query("SELECT queue FROM queuecast.phases WHERE id = $1", params);
  if (PQntuples(r.get()) == 0) co_return std::nullopt;
  co_return std::string(PQgetvalue(r.get(), 0, 0));
}

// The phase, and its statuses in commit order with how long each lasted, who
// made the change (role, application) and on which worker: from history, by
// queuecast.phase_timeline(), which reads the phase's own lifetime only (not
// all of history, and never an earlier phase that had its id).
constexpr const char* detail_sql = R"(
SELECT p.queue, json_build_object(
  'phase', queuecast.phase_json(p),
  'timeline', coalesce((
    SELECT json_agg(t ORDER BY t.seq) FROM (
      SELECT seq, status, entered_at, left_at, extract(epoch FROM duration) * 1000 AS duration_ms,
             worker, role_name AS role, application_name
        FROM queuecast.phase_timeline(p.id)) t), '[]'::json))::text
  FROM queuecast.phases p WHERE p.id = $1)";

asio::awaitable<void> phase_detail(pg_connection& db, std::int64_t id, auth::principal who,
                                   http_request req, http_response& out) {
  sql_params params{std::to_string(id)};
  pg_result r = co_await db.query(detail_sql, params);
  // A phase of a queue the caller may not read does not exist for it.
  if (PQntuples(r.get()) == 0 || !gate::may_read(who, topic_of_queue(PQgetvalue(r.get(), 0, 0)))) {
    out = error_response(req, http::status::not_found, "unknown_phase",
                         "no phase " + std::to_string(id) + " that your token may read");
    co_return;
  }
  out = json_reply(req, http::status::ok, PQgetvalue(r.get(), 0, 1));
}

stats_cache& shared_stats() {
  static stats_cache cache;
  return cache;
}

asio::awaitable<void> queue_stats(pg_connection& db, std::string queue, int minutes,
                                  http_request req, http_response& out) {
  sql_params name{queue};
  pg_result known = co_await db.query("SELECT 1 FROM queuecast.queues WHERE name = $1", name);
  if (PQntuples(known.get()) == 0) {
    out = error_response(req, http::status::not_found, "unknown_queue",
                         "no queue '" + shown(queue) + "'");
    co_return;
  }
  sql_params params{queue, std::to_string(minutes), topic_of_queue(queue)};
  pg_result r = co_await db.query(queue_stats_sql, params);
  shared_stats().keep(queue, minutes, PQgetvalue(r.get(), 0, 0));
  out = json_reply(req, http::status::ok, PQgetvalue(r.get(), 0, 0));
}

asio::awaitable<void> begin_as(pg_connection& db, const std::string& actor) {
  co_await db.query("BEGIN");
  sql_params params{actor};
  co_await db.query("SELECT pg_catalog.set_config('application_name', $1, true)", params);
}

asio::awaitable<void> phase_action(pg_connection& db, api_request what, auth::principal who,
                                   http_request req, http_response& out) {
  co_await begin_as(db, actor_of(who));
  std::string id = std::to_string(what.phase_id);
  auto queue = co_await queue_of_phase(db, what.phase_id);
  if (!queue || !gate::may_read(who, topic_of_queue(*queue))) {
    co_await db.query("ROLLBACK");
    out = error_response(req, http::status::not_found, "unknown_phase",
                         "no phase " + id + " that your token may read");
    co_return;
  }
  const char* sql =
      what.action == api_action::retry
          ? "SELECT r.queue, queuecast.phase_json(r)::text FROM queuecast.retry($1) r"
          : "SELECT r.queue, queuecast.phase_json(r)::text FROM queuecast.cancel($1) r";
  sql_params params{id};
  pg_result r = co_await db.query(sql, params);
  // The phase moved to another queue since it was looked up: not ours to change.
  if (PQgetvalue(r.get(), 0, 0) != *queue) {
    co_await db.query("ROLLBACK");
    out = error_response(req, http::status::conflict, "not_allowed_now",
                         "phase " + id + " moved to another queue; look again");
    co_return;
  }
  std::string phase = PQgetvalue(r.get(), 0, 1);
  co_await db.query("COMMIT");
  out = phase_done(req, what.action, phase);
}

asio::awaitable<void> queue_action(pg_connection& db, api_request what, auth::principal who,
                                   http_request req, http_response& out) {
  co_await begin_as(db, actor_of(who));
  const char* sql = what.action == api_action::pause ? "SELECT queuecast.pause($1)"
                                                     : "SELECT queuecast.resume($1)";
  sql_params params{what.queue};
  pg_result r = co_await db.query(sql, params);
  bool changed = std::string_view(PQgetvalue(r.get(), 0, 0)) == "t";
  co_await db.query("COMMIT");
  out = queue_done(req, what, changed);
}

constexpr const char* matching_sql = R"(
SELECT id FROM queuecast.phases
 WHERE queue = $1 AND status = $2
   AND ($3::text IS NULL OR strpos(lower(coalesce(worker, '')), lower($3)) > 0)
   AND ($4::bigint IS NULL OR workflow_id = $4)
   AND ($5::text IS NULL OR strpos(lower(title), lower($5)) > 0)
 ORDER BY id LIMIT $6)";

// Each matching phase in its own savepoint: one that cannot be retried (its
// attempts are used up, say) is reported and the others still go.
asio::awaitable<void> matching_action(pg_connection& db, api_request what, auth::principal who,
                                      http_request req, http_response& out) {
  co_await begin_as(db, actor_of(who));
  const phase_filter& f = what.filter;
  sql_params filter{
      what.queue,
      f.status,
      f.worker,
      f.workflow_id ? std::optional<std::string>(std::to_string(*f.workflow_id)) : std::nullopt,
      f.text,
      std::to_string(f.limit)};
  pg_result matched = co_await db.query(matching_sql, filter);
  const char* sql = what.action == api_action::retry_matching ? "SELECT queuecast.retry($1)"
                                                              : "SELECT queuecast.cancel($1)";
  json::array done;
  json::array refused;
  for (int row = 0; row < PQntuples(matched.get()); ++row) {
    std::int64_t id = std::stoll(PQgetvalue(matched.get(), row, 0));
    co_await db.query("SAVEPOINT phase");
    std::optional<std::string> error;
    try {
      sql_params params{std::to_string(id)};
      co_await db.query(sql, params);
    } catch (const pg_failure& e) {
      if (e.sqlstate.empty()) throw;  // the connection failed, not the phase
      error = e.primary;
    }
    if (error) {
      co_await db.query("ROLLBACK TO SAVEPOINT phase");
      refused.push_back(json::object{{"id", id}, {"error", *error}});
    } else {
      co_await db.query("RELEASE SAVEPOINT phase");
      done.push_back(id);
    }
  }
  co_await db.query("COMMIT");
  out = matching_done(req, what, PQntuples(matched.get()), std::move(done), std::move(refused));
}

void log_action(const api_request& what, const auth::principal& who, const request_origin& from,
                const http_response& res) {
  std::string target =
      what.queue.empty() ? "phase " + std::to_string(what.phase_id) : "queue " + what.queue;
  log(res.result() == http::status::ok ? log_level::info : log_level::warn, "action",
      {{"action", std::string(action_name(what.action))},
       {"target", target},
       {"subject", who.subject},
       {"role", std::string(role_name(who.access))},
       {"peer", from.peer},
       {"status", std::to_string(res.result_int())}});
}

// Authentication and grants; the refusal, if any.
std::optional<http_response> refuse(const http_request& req, http_context& ctx,
                                    const api_request& what, const auth::verdict& verdict,
                                    bool sent_credential) {
  if (!verdict.who) return unauthorized_response(req, sent_credential, verdict);
  const auth::principal& who = *verdict.who;
  if (changes_queue(what.action)) {
    if (!ctx.actions)
      return error_response(req, http::status::forbidden, "actions_disabled",
                            "this daemon only reads: start it with --actions-database to act");
    if (who.access == auth::role::viewer)
      return error_response(req, http::status::forbidden, "forbidden",
                            "your token's role is viewer: actions need operator or admin");
  }
  if (!what.queue.empty() && !gate::may_read(who, topic_of_queue(what.queue)))
    return error_response(req, http::status::forbidden, "forbidden",
                          "your token does not grant '" + topic_of_queue(what.queue) + "'");
  return std::nullopt;
}

// The request's statements on its service (actions or reads), and what
// their failures mean to the caller.
asio::awaitable<http_response> run_statements(const http_request& req, http_context& ctx,
                                              const api_request& what, const auth::principal& who) {
  http_response out;
  sql_service& service = changes_queue(what.action) ? *ctx.actions : *ctx.reads;
  // Named, not built inside the co_await: GCC 12 miscompiles a capturing
  // lambda made in a co_await expression (it copied the request forever).
  // The inputs travel behind one shared pointer, so copying the job copies
  // nothing that can throw.
  struct call {
    api_request what;
    auth::principal who;
    http_request req;
  };
  auto in = std::make_shared<const call>(call{what, who, req});
  sql_service::job work = [&out, in](pg_connection& db) -> asio::awaitable<void> {
    switch (in->what.action) {
      case api_action::detail:
        return phase_detail(db, in->what.phase_id, in->who, in->req, out);
      case api_action::stats:
        return queue_stats(db, in->what.queue, in->what.minutes, in->req, out);
      case api_action::retry:
      case api_action::cancel:
        return phase_action(db, in->what, in->who, in->req, out);
      case api_action::pause:
      case api_action::resume:
        return queue_action(db, in->what, in->who, in->req, out);
      case api_action::retry_matching:
      case api_action::cancel_matching:
        return matching_action(db, in->what, in->who, in->req, out);
    }
    return phase_detail(db, in->what.phase_id, in->who, in->req, out);
  };
  try {
    co_await service.run(std::move(work));
  } catch (const sql_service_busy&) {
    out = error_response(req, http::status::service_unavailable, "busy",
                         "too many requests wait for the database; try again");
  } catch (const pg_failure& e) {
    if (!e.sqlstate.empty() && !e.sqlstate.starts_with("55") && e.sqlstate != "P0002")
      log(log_level::warn, "api_statement_failed",
          {{"action", std::string(action_name(what.action))}, {"error", e.what()}});
    out = failure_response(req, e);
  }
  co_return out;
}

asio::awaitable<http_response> answer_checked(const http_request& req, http_context& ctx,
                                              const request_origin& from) {
  if (from.admin_listener)
    co_return error_response(req, http::status::not_found, "not_found",
                             "only /healthz, /readyz and /metrics are served here");
  if (auto refused = ctx.door.check_browser(req, from.tls))
    co_return error_response(req, refused->status, refused->code, refused->message);
  auto parsed = parse_api_request(req);
  if (auto* refused = std::get_if<refusal>(&parsed))
    co_return error_response(req, refused->status, refused->code, refused->message);
  api_request what = std::get<api_request>(std::move(parsed));
  auto credential = gate::header_credential(req);
  auth::verdict verdict = ctx.door.authenticate(credential, from.peer);
  if (auto refused = refuse(req, ctx, what, verdict, credential.has_value())) co_return *refused;
  const auth::principal& who = *verdict.who;
  // Granted: a recent answer for the queue serves any caller who may read it.
  if (what.action == api_action::stats) {
    if (auto body = shared_stats().find(what.queue, what.minutes))
      co_return json_reply(req, http::status::ok, std::move(*body));
  }

  http_response out = co_await run_statements(req, ctx, what, who);
  if (changes_queue(what.action)) log_action(what, who, from, out);
  co_return out;
}

}  // namespace

asio::awaitable<http_response> answer_api_request(const http_request& req, http_context& ctx,
                                                  const request_origin& from) {
  try {
    http_response res = co_await answer_checked(req, ctx, from);
    co_return res;
  } catch (const std::exception& e) {
    process_metrics().client_errors++;
    log(log_level::error, "api_request_failed", {{"error", e.what()}});
  }
  co_return error_response(req, http::status::internal_server_error, "internal_error",
                           "the request could not be served");
}

}  // namespace queuecast
