// ws_session over TLS (wss://).
#include "ws_session_impl.hpp"

namespace queuecast {
template class ws_session<beast::ssl_stream<beast::tcp_stream>>;
}  // namespace queuecast
