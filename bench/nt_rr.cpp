// Request/response with small messages, the bench's worst case for per-call cost: one connection,
// one outstanding message at a time.
//   nt-rr serve --proto tcp|udp            prints {"port":P}, echoes until killed
//   nt-rr client --proto tcp|udp --port P --seconds S [--size 64]
//                                          prints {"transactions":N,"seconds":S,"tps":T}
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "nt-rr: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

struct Options {
  std::string mode, proto = "tcp";
  int port = 0;
  double seconds = 5;
  size_t size = 64;
};

Options parse(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: nt-rr serve|client --proto tcp|udp [--port P --seconds S --size N]\n");
    std::exit(2);
  }
  Options o;
  o.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--proto") o.proto = value;
    else if (flag == "--port") o.port = std::stoi(value);
    else if (flag == "--seconds") o.seconds = std::stod(value);
    else if (flag == "--size") o.size = std::stoul(value);
    else {
      std::fprintf(stderr, "nt-rr: unknown option %s\n", flag.c_str());
      std::exit(2);
    }
  }
  if ((o.mode != "serve" && o.mode != "client") || (o.proto != "tcp" && o.proto != "udp") || o.size == 0 ||
      o.size > 65000) {
    std::fprintf(stderr, "nt-rr: bad arguments\n");
    std::exit(2);
  }
  return o;
}

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// Reads exactly n bytes of a stream (TCP), or one datagram (UDP).
bool read_message(int fd, char* buf, size_t n, bool stream) {
  size_t got = 0;
  do {
    ssize_t r = recv(fd, buf + got, n - got, 0);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  } while (stream && got < n);
  return true;
}

void serve(const Options& o) {
  const bool tcp = o.proto == "tcp";
  int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  auto addr = loopback(o.port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))) die("bind");
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (tcp && listen(fd, 4)) die("listen");
  std::printf("{\"port\":%d}\n", ntohs(addr.sin_port));
  std::fflush(stdout);
  std::vector<char> buf(o.size);
  if (tcp) {
    for (;;) {
      int conn = accept(fd, nullptr, nullptr);
      if (conn < 0) die("accept");
      int one = 1;
      setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      while (read_message(conn, buf.data(), buf.size(), true))
        if (send(conn, buf.data(), buf.size(), 0) < 0) break;
      close(conn);
    }
  }
  for (;;) {
    sockaddr_in peer{};
    socklen_t peer_len = sizeof(peer);
    ssize_t r = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&peer), &peer_len);
    if (r > 0) sendto(fd, buf.data(), static_cast<size_t>(r), 0, reinterpret_cast<sockaddr*>(&peer), peer_len);
  }
}

void client(const Options& o) {
  const bool tcp = o.proto == "tcp";
  int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  auto addr = loopback(o.port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))) die("connect");
  int one = 1;
  if (tcp) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::vector<char> buf(o.size, 'r');
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto end = start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(o.seconds));
  uint64_t transactions = 0;
  while (clock::now() < end) {
    if (send(fd, buf.data(), buf.size(), 0) < 0) die("send");
    if (!read_message(fd, buf.data(), buf.size(), tcp)) die("recv");
    ++transactions;
  }
  double elapsed = std::chrono::duration<double>(clock::now() - start).count();
  std::printf("{\"transactions\":%llu,\"seconds\":%.3f,\"tps\":%.1f}\n", static_cast<unsigned long long>(transactions),
              elapsed, static_cast<double>(transactions) / elapsed);
}

}  // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  if (o.mode == "serve") serve(o);
  client(o);
}
