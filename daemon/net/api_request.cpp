#include "api_request.hpp"

#include <boost/json.hpp>
#include <charconv>

#include "messages.hpp"

namespace queuecast {

namespace {

namespace json = boost::json;

constexpr std::string_view phases_prefix = "/api/v1/phases/";
constexpr std::string_view queues_prefix = "/api/v1/queues/";
// Statuses a phase can have (the CHECK constraint of queuecast.phases).
constexpr std::string_view phase_statuses[] = {"queued", "ready",     "running", "completed",
                                               "failed", "cancelled", "blocked"};
constexpr std::size_t max_filter_text_bytes = 200;

refusal bad_request(std::string message) {
  return refusal{http::status::bad_request, "bad_request", std::move(message)};
}

refusal not_found() {
  return refusal{http::status::not_found, "not_found", "no such path"};
}

// A positive bigint written in at most 18 digits, nothing else.
std::optional<std::int64_t> parse_id(std::string_view text) {
  if (text.empty() || text.size() > max_workflow_id_digits) return std::nullopt;
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

bool known_status(std::string_view status) {
  for (auto known : phase_statuses)
    if (status == known) return true;
  return false;
}

// The body of a *_matching action: a JSON object of optional fields.
std::variant<phase_filter, refusal> parse_filter(const std::string& body) {
  phase_filter filter;
  if (body.empty()) return filter;
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) return bad_request("the body must be a JSON object");
  for (const auto& [key, value] : doc.as_object()) {
    if (key == "status") {
      if (!value.is_string() || !known_status(value.as_string()))
        return bad_request(
            "status must be one of queued, ready, running, completed, failed, "
            "cancelled, blocked");
      filter.status = value.as_string();
    } else if (key == "worker") {
      if (!value.is_string() || value.as_string().size() > max_filter_text_bytes)
        return bad_request("worker must be a string of at most 200 bytes");
      filter.worker = std::string(value.as_string());
    } else if (key == "text") {
      if (!value.is_string() || value.as_string().size() > max_filter_text_bytes)
        return bad_request("text must be a string of at most 200 bytes");
      filter.text = std::string(value.as_string());
    } else if (key == "workflow_id") {
      if (!value.is_int64() || value.as_int64() <= 0)
        return bad_request("workflow_id must be a positive integer");
      filter.workflow_id = value.as_int64();
    } else if (key == "limit") {
      if (!value.is_int64() || value.as_int64() < 1 || value.as_int64() > max_phases_per_action)
        return bad_request("limit must be an integer from 1 to 1000");
      filter.limit = value.as_int64();
    } else {
      return bad_request("unknown field '" + shown(key) +
                         "': use status, worker, workflow_id, text, limit");
    }
  }
  return filter;
}

// A POST carries JSON (or nothing): a browser cannot send that to another
// origin without a CORS preflight, which the daemon never grants.
std::optional<refusal> check_post(const http_request& req) {
  if (req.method() != http::verb::post)
    return refusal{http::status::method_not_allowed, "method_not_allowed",
                   "actions are POST requests"};
  std::string_view type = req[http::field::content_type];
  std::string_view media = type.substr(0, type.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media != "application/json")
    return refusal{http::status::unsupported_media_type, "unsupported_media_type",
                   "send Content-Type: application/json"};
  return std::nullopt;
}

std::variant<api_request, refusal> phase_route(const http_request& req, std::string_view rest) {
  auto slash = rest.find('/');
  auto id = parse_id(rest.substr(0, slash));
  if (!id)
    return refusal{http::status::not_found, "unknown_phase", "a phase id is a positive integer"};
  api_request parsed;
  parsed.phase_id = *id;
  if (slash == std::string_view::npos) {
    if (req.method() != http::verb::get && req.method() != http::verb::head)
      return refusal{http::status::method_not_allowed, "method_not_allowed", "use GET"};
    parsed.action = api_action::detail;
    return parsed;
  }
  std::string_view verb = rest.substr(slash + 1);
  if (verb == "retry") {
    parsed.action = api_action::retry;
  } else if (verb == "cancel") {
    parsed.action = api_action::cancel;
  } else {
    return not_found();
  }
  if (auto refused = check_post(req)) return *refused;
  return parsed;
}

std::variant<api_request, refusal> queue_route(const http_request& req, std::string_view rest) {
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return not_found();
  api_request parsed;
  parsed.queue = std::string(rest.substr(0, slash));
  if (!valid_topic_syntax(std::string(queue_topic_prefix) + parsed.queue))
    return refusal{http::status::not_found, "unknown_queue",
                   "no queue '" + shown(parsed.queue) + "'"};
  std::string_view verb = rest.substr(slash + 1);
  if (verb == "stats") {
    if (req.method() != http::verb::get && req.method() != http::verb::head)
      return refusal{http::status::method_not_allowed, "method_not_allowed", "use GET"};
    parsed.action = api_action::stats;
    std::string_view target(req.target().data(), req.target().size());
    auto q = target.find('?');
    if (q != std::string_view::npos) {
      std::string_view query = target.substr(q + 1);
      if (!query.starts_with("minutes=") || query.find('&') != std::string_view::npos)
        return bad_request("the only parameter is minutes, 5 to 1440");
      std::string_view value = query.substr(8);
      int minutes = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), minutes);
      if (ec != std::errc() || end != value.data() + value.size() || minutes < 5 || minutes > 1440)
        return bad_request("minutes is a whole number from 5 to 1440");
      parsed.minutes = minutes;
    }
    return parsed;
  }
  if (verb == "pause") {
    parsed.action = api_action::pause;
  } else if (verb == "resume") {
    parsed.action = api_action::resume;
  } else if (verb == "phases/retry") {
    parsed.action = api_action::retry_matching;
  } else if (verb == "phases/cancel") {
    parsed.action = api_action::cancel_matching;
  } else {
    return not_found();
  }
  if (auto refused = check_post(req)) return *refused;
  if (parsed.action == api_action::retry_matching || parsed.action == api_action::cancel_matching) {
    auto filter = parse_filter(req.body());
    if (auto* refused = std::get_if<refusal>(&filter)) return *refused;
    parsed.filter = std::get<phase_filter>(std::move(filter));
  }
  return parsed;
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

}  // namespace

bool is_api_target(std::string_view target) {
  std::string_view path = path_of(target);
  if (path.starts_with(phases_prefix)) return true;
  // /api/v1/queues/{name} (GET, http_routes) is a document; with a verb after
  // the name it is an action.
  return path.starts_with(queues_prefix) &&
         path.find('/', queues_prefix.size()) != std::string_view::npos;
}

std::variant<api_request, refusal> parse_api_request(const http_request& req) {
  std::string_view path = path_of(std::string_view(req.target().data(), req.target().size()));
  if (path.starts_with(phases_prefix)) return phase_route(req, path.substr(phases_prefix.size()));
  if (path.starts_with(queues_prefix)) return queue_route(req, path.substr(queues_prefix.size()));
  return not_found();
}

std::string_view action_name(api_action action) {
  switch (action) {
    case api_action::detail:
      return "detail";
    case api_action::stats:
      return "stats";
    case api_action::pause:
      return "pause";
    case api_action::resume:
      return "resume";
    case api_action::retry:
      return "retry";
    case api_action::cancel:
      return "cancel";
    case api_action::retry_matching:
      return "retry_matching";
    case api_action::cancel_matching:
      return "cancel_matching";
  }
  return "unknown";
}

}  // namespace queuecast
