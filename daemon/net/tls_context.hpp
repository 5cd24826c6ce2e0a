// The certificate the main listener serves over TLS, replaceable while the
// daemon runs (SIGHUP). Each connection holds the context it was accepted
// with, so a reload changes new connections only.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <variant>

namespace queuecast {

class tls_certificate {
 public:
  // Loads both files, or says which file is wrong and why.
  static std::variant<tls_certificate, std::string> load(std::string cert_file,
                                                         std::string key_file);

  // Re-reads both files; on any problem the current context stays and the
  // problem is returned; "" on success.
  std::string reload();

  // The context for the next connection. The event loop is single-threaded:
  // reload() and current() never run at the same time.
  std::shared_ptr<boost::asio::ssl::context> current() const { return context_; }

 private:
  tls_certificate(std::string cert_file, std::string key_file,
                  std::shared_ptr<boost::asio::ssl::context> context);
  std::string cert_file_;
  std::string key_file_;
  std::shared_ptr<boost::asio::ssl::context> context_;
};

}  // namespace queuecast
