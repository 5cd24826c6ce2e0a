// The hub's fixed limits, in one place. Constants rather than options: the
// first is part of the protocol (docs/protocol.md tells clients how long a
// subscribe may wait), the others bound what one client can cost the daemon
// and have no setting an operator would be better off changing.
#pragma once

#include <chrono>
#include <cstddef>

namespace queuecast::hub_limits {

// How long a subscribe waits for the state to load, or for this daemon to
// catch up with a client that is ahead of it (it came from a daemon further
// along), before it is answered anyway. Clients are promised 10 s.
inline constexpr std::chrono::steady_clock::duration pending_limit = std::chrono::seconds(10);

// A resume the in-memory window cannot serve costs a history query and a
// large answer: at most one a second per connection (and one at a time), so
// no client can keep the database connection busy with them.
inline constexpr std::chrono::steady_clock::duration replay_interval = std::chrono::seconds(1);

// Frames kept for identical subscribes and resumes at one state. Distinct
// resume positions each cost a frame; past this many the cache starts over
// rather than pile up large snapshots.
inline constexpr std::size_t max_cached_frames = 32;

}  // namespace queuecast::hub_limits
