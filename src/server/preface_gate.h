// The gRPC port's own listener, when agents speak plaintext: each connection must open with
// HTTP/2's client preface within a few seconds, and is then handed to the gRPC server as it is. A
// connection that opens with anything else is counted (garbage_connection) and closed; left to
// gRPC's transport it would vanish there without a trace. (With TLS, gRPC listens itself: the
// handshake comes first, and garbage fails inside it.)
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/result.h"
#include "common/unique_fd.h"

namespace nt::server {

class PrefaceGate {
 public:
  using Rejected = std::function<void(std::string_view reason)>;
  // Binds `listen` (HOST:PORT, port 0 picks one) now; connections go to `server` once checked.
  static Result<std::unique_ptr<PrefaceGate>> start(const std::string& listen, grpc::Server& server,
                                                    Rejected rejected);
  ~PrefaceGate();  // stops accepting; connections being checked finish within their deadline
  PrefaceGate(const PrefaceGate&) = delete;
  PrefaceGate& operator=(const PrefaceGate&) = delete;

  int port() const { return port_; }

 private:
  PrefaceGate(grpc::Server& server, Rejected rejected) : server_(server), rejected_(std::move(rejected)) {}
  void accept_loop();
  void check(UniqueFd connection);

  grpc::Server& server_;
  Rejected rejected_;
  UniqueFd listener_;
  UniqueFd stop_;  // an eventfd: written once to end accept_loop
  int port_ = 0;
  std::atomic<int> checking_ = 0;  // connections being checked, each on a thread of its own
  std::thread acceptor_;
};

}  // namespace nt::server
