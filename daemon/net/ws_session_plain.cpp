// ws_session over plain TCP (ws://).
#include "ws_session_impl.hpp"

namespace queuecast {
template class ws_session<asio::ip::tcp::socket>;
}  // namespace queuecast
