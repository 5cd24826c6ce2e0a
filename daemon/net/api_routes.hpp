// Answers the database-backed API (net/api_request.hpp): who may ask, the
// statements that answer, and what their failures mean to the caller.
//
// Actions run on the --actions-database connection, as the role it names;
// each is one transaction whose application_name names the caller
// ("queuecastd operator <subject>"), so every history row it writes records
// who acted, and each is logged (event=action). Their result reaches
// dashboards through the live feed, like any other commit.
#pragma once

#include <boost/asio.hpp>

#include "http_routes.hpp"

namespace queuecast {

// Never throws: failures become JSON errors.
asio::awaitable<http_response> answer_api_request(const http_request& req, http_context& ctx,
                                                  const request_origin& from);

}  // namespace queuecast
