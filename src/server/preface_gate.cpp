#include "server/preface_gate.h"

#include <grpcpp/server_posix.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>

namespace nt::server {

namespace {

constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";  // RFC 9113, 3.4
constexpr int kPrefaceTimeoutMs = 5000;
constexpr int kMaxChecking = 256;  // connections still to say who they are; beyond, refused at once

}  // namespace

Result<std::unique_ptr<PrefaceGate>> PrefaceGate::start(const std::string& listen, grpc::Server& server,
                                                        Rejected rejected) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return Error{"--listen: HOST:PORT expected: " + listen};
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return Error{"--listen: " + listen + ": " + gai_strerror(rc)};
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, freeaddrinfo);
  std::unique_ptr<PrefaceGate> gate(new PrefaceGate(server, std::move(rejected)));
  gate->listener_.reset(socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, 0));
  if (!gate->listener_.valid()) return errno_error("--listen: socket", errno);
  const int on = 1;
  setsockopt(gate->listener_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (bind(gate->listener_.get(), found->ai_addr, found->ai_addrlen) != 0)
    return errno_error("--listen: cannot bind " + listen, errno);
  if (::listen(gate->listener_.get(), 1024) != 0) return errno_error("--listen: " + listen, errno);
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(gate->listener_.get(), reinterpret_cast<sockaddr*>(&bound), &length);
  gate->port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                 : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  gate->stop_.reset(eventfd(0, EFD_CLOEXEC));
  if (!gate->stop_.valid()) return errno_error("eventfd", errno);
  gate->acceptor_ = std::thread(&PrefaceGate::accept_loop, gate.get());
  return gate;
}

PrefaceGate::~PrefaceGate() {
  const uint64_t one = 1;
  if (write(stop_.get(), &one, sizeof(one)) < 0) {
    // The acceptor also stops when the listener goes away below.
  }
  if (acceptor_.joinable()) acceptor_.join();
  // Checkers end by their deadline; none may outlive the gate they count into.
  while (checking_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void PrefaceGate::accept_loop() {
  pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
  while (true) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    // gRPC's transport wants a non-blocking socket without Nagle's delay (as its own listener sets up).
    UniqueFd connection(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!connection.valid()) continue;
    const int on = 1;
    setsockopt(connection.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (checking_.load() >= kMaxChecking) {
      rejected_("too_many_connecting");
      continue;
    }
    ++checking_;
    std::thread(&PrefaceGate::check, this, std::move(connection)).detach();
  }
}

void PrefaceGate::check(UniqueFd connection) {
  char head[kClientPreface.size()];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kPrefaceTimeoutMs);
  ssize_t seen = 0;
  // Peek until the preface's length has arrived (it may come in pieces), the peer closes, or time is up.
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd fd{connection.get(), POLLIN, 0};
    if (left.count() <= 0 || poll(&fd, 1, static_cast<int>(left.count())) <= 0) break;
    seen = recv(connection.get(), head, sizeof(head), MSG_PEEK);
    if (seen <= 0 || static_cast<size_t>(seen) == sizeof(head)) break;
    if (std::string_view(head, static_cast<size_t>(seen)) != kClientPreface.substr(0, static_cast<size_t>(seen))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (seen == static_cast<ssize_t>(sizeof(head)) && std::string_view(head, sizeof(head)) == kClientPreface) {
    grpc::AddInsecureChannelFromFd(&server_, connection.release());
  } else if (seen > 0) {
    rejected_("garbage_connection");
  }
  --checking_;
}

}  // namespace nt::server
