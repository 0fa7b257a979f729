// nt-traffic: known traffic for the tests. Every mode prints one JSON line on stdout saying what
// it moved and which pids did it, so tests compare the agent against the truth, byte for byte.
//
//   serve --proto tcp|udp --family 4|6 --addr A --port P --bytes N [--conns K]
//       receives N bytes in all (TCP: from K connections), prints {"pid","port","received"}.
//       With --port 0 it binds an ephemeral port and prints {"ready":port} first.
//   send  --proto tcp|udp --family 4|6 --addr A --port P --bytes N [--threads T] [--unconnected]
//         [--hold-ms H] [--hold-until-line]
//       sends N bytes split over T threads (named nt-worker-I), one socket each, each connection
//       held H ms (or until a line comes on stdin) before sending; prints the sockets' ports and how
//       long each was open.
//   burst --family 4|6 --addr A --port P --bytes N --procs K [--parallel J]
//       K short-lived child processes, each sending N UDP bytes, at most J at once.
//   tree  --family 4|6 --addr A --port P --bytes N --exit-code C
//       sends N UDP bytes at once, then its child forks a grandchild that sends N more; exits C.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr size_t kDatagram = 1024;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "nt-traffic: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(2);
}

struct Args {
  std::map<std::string, std::string> values;
  std::string get(const std::string& key, const std::string& fallback = "") const {
    auto it = values.find(key);
    return it == values.end() ? fallback : it->second;
  }
  long num(const std::string& key, long fallback = 0) const {
    auto it = values.find(key);
    return it == values.end() ? fallback : std::stol(it->second);
  }
  bool has(const std::string& key) const { return values.count(key) != 0; }
};

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
};

Endpoint endpoint(const Args& args) {
  Endpoint e;
  auto port = static_cast<uint16_t>(args.num("port"));
  if (args.get("family", "4") == "6") {
    auto* a = reinterpret_cast<sockaddr_in6*>(&e.addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    if (inet_pton(AF_INET6, args.get("addr", "::1").c_str(), &a->sin6_addr) != 1) die("bad IPv6 address");
    e.len = sizeof(*a);
    e.family = AF_INET6;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&e.addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, args.get("addr", "127.0.0.1").c_str(), &a->sin_addr) != 1) die("bad IPv4 address");
    e.len = sizeof(*a);
  }
  return e;
}

uint16_t bound_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

// Returns the number of successful send calls.
long send_all(int fd, const char* data, size_t len, const sockaddr* to = nullptr, socklen_t to_len = 0) {
  long calls = 0;
  while (len > 0) {
    ssize_t n = sendto(fd, data, len, 0, to, to_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("send");
    }
    ++calls;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return calls;
}

struct SendReport {
  long calls = 0;      // successful send calls
  uint16_t port = 0;   // the socket's local port
  double open_ms = 0;  // from connect() returning to close()
};

// Sends `bytes` on a new socket: TCP as a stream, UDP as paced 1 KiB datagrams, after holding
// the connection --hold-ms first (with --bytes 0: a connection that never carries a byte).
SendReport send_bytes(const Args& args, const Endpoint& to, long bytes) {
  bool tcp = args.get("proto", "tcp") == "tcp";
  int fd = socket(to.family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  bool connected = tcp || !args.has("unconnected");
  if (connected && connect(fd, reinterpret_cast<const sockaddr*>(&to.addr), to.len) != 0) die("connect");
  auto opened = std::chrono::steady_clock::now();
  if (args.has("hold-ms")) std::this_thread::sleep_for(std::chrono::milliseconds(args.num("hold-ms")));
  if (args.has("hold-until-line")) {  // the test says when, whatever the time its other side takes
    static std::once_flag line_read;
    std::call_once(line_read, [] {
      for (int c = getchar(); c != EOF && c != '\n'; c = getchar()) {
      }
    });
  }
  std::vector<char> buffer(tcp ? 65536 : kDatagram, 'x');
  long left = bytes, calls = 0;
  int datagrams = 0;
  while (left > 0) {
    size_t chunk = static_cast<size_t>(std::min<long>(left, static_cast<long>(buffer.size())));
    if (connected)
      calls += send_all(fd, buffer.data(), chunk);
    else
      calls += send_all(fd, buffer.data(), chunk, reinterpret_cast<const sockaddr*>(&to.addr), to.len);
    left -= static_cast<long>(chunk);
    // Pace datagrams so that a receiver on a busy 2-core host never overflows.
    if (!tcp && ++datagrams % 32 == 0) usleep(1000);
  }
  SendReport report{calls, bound_port(fd), 0};
  if (tcp) shutdown(fd, SHUT_WR);
  close(fd);
  report.open_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - opened).count();
  return report;
}

// --linger-ms: stay alive that long before exiting, so the agent reads the process while it lives.
void linger_before_exit(const Args& args) {
  if (args.has("linger-ms")) std::this_thread::sleep_for(std::chrono::milliseconds(args.num("linger-ms")));
}

int serve(const Args& args) {
  bool tcp = args.get("proto", "tcp") == "tcp";
  Endpoint local = endpoint(args);
  int fd = socket(local.family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  int one = 1, big = 16 << 20;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
  if (bind(fd, reinterpret_cast<sockaddr*>(&local.addr), local.len) != 0) die("bind");
  if (tcp && listen(fd, 64) != 0) die("listen");
  std::printf("{\"ready\":%u,\"pid\":%d}\n", bound_port(fd), getpid());
  std::fflush(stdout);
  const long expected = args.num("bytes");
  long received = 0, calls = 0;
  std::vector<char> buffer(65536);
  if (tcp) {
    long conns = args.num("conns", 1);
    std::vector<std::thread> readers;
    std::vector<long> per_conn(static_cast<size_t>(conns), 0), calls_per_conn(static_cast<size_t>(conns), 0);
    for (long i = 0; i < conns; ++i) {
      int conn = accept(fd, nullptr, nullptr);
      if (conn < 0) die("accept");
      readers.emplace_back([conn, &per_conn, &calls_per_conn, i] {
        std::vector<char> buf(65536);
        ssize_t n;
        while ((n = recv(conn, buf.data(), buf.size(), 0)) > 0) {
          per_conn[static_cast<size_t>(i)] += n;
          ++calls_per_conn[static_cast<size_t>(i)];
        }
        close(conn);
      });
    }
    for (auto& reader : readers) reader.join();
    for (long n : per_conn) received += n;
    for (long n : calls_per_conn) calls += n;
  } else {
    while (received < expected) {
      // recvfrom names the peer, as an unconnected UDP server does.
      sockaddr_storage peer{};
      socklen_t peer_len = sizeof(peer);
      ssize_t n = recvfrom(fd, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&peer), &peer_len);
      if (n < 0) {
        if (errno == EINTR) continue;
        die("recv");
      }
      received += n;
      ++calls;
    }
  }
  std::printf("{\"pid\":%d,\"received\":%ld,\"calls\":%ld}\n", getpid(), received, calls);
  std::fflush(stdout);
  linger_before_exit(args);
  return received == expected ? 0 : 1;
}

int send_mode(const Args& args) {
  Endpoint to = endpoint(args);
  const long bytes = args.num("bytes");
  const long threads = args.num("threads", 1);
  std::vector<std::thread> workers;
  std::vector<long> tids(static_cast<size_t>(threads));
  std::vector<SendReport> reports(static_cast<size_t>(threads));
  for (long i = 0; i < threads; ++i) {
    long share = bytes / threads + (i < bytes % threads ? 1 : 0);
    workers.emplace_back([&, i, share] {
      std::string name = "nt-worker-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      tids[static_cast<size_t>(i)] = gettid();
      reports[static_cast<size_t>(i)] = send_bytes(args, to, share);
    });
  }
  for (auto& worker : workers) worker.join();
  long total_calls = 0;
  for (const auto& r : reports) total_calls += r.calls;
  std::printf("{\"pid\":%d,\"sent\":%ld,\"calls\":%ld,\"tids\":[", getpid(), bytes, total_calls);
  for (size_t i = 0; i < tids.size(); ++i) std::printf("%s%ld", i ? "," : "", tids[i]);
  std::printf("],\"ports\":[");
  for (size_t i = 0; i < reports.size(); ++i) std::printf("%s%u", i ? "," : "", reports[i].port);
  std::printf("],\"open_ms\":[");
  for (size_t i = 0; i < reports.size(); ++i) std::printf("%s%.3f", i ? "," : "", reports[i].open_ms);
  std::printf("]}\n");
  std::fflush(stdout);
  linger_before_exit(args);
  return 0;
}

// Many short-lived processes: --procs children, at most --parallel alive at once, each sending
// --bytes as UDP and exiting.
int burst(const Args& args) {
  Endpoint to = endpoint(args);
  Args udp = args;
  udp.values["proto"] = "udp";
  const long procs = args.num("procs"), parallel = args.num("parallel", 16), bytes = args.num("bytes");
  long started = 0, running = 0, failed = 0;
  while (started < procs || running > 0) {
    if (started < procs && running < parallel) {
      pid_t pid = fork();
      if (pid < 0) die("fork");
      if (pid == 0) {
        send_bytes(udp, to, bytes);
        _exit(0);
      }
      ++started;
      ++running;
      continue;
    }
    int status = 0;
    if (wait(&status) > 0) {
      --running;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
    }
  }
  std::printf("{\"pid\":%d,\"procs\":%ld,\"sent\":%ld,\"failed\":%ld}\n", getpid(), procs, procs * bytes, failed);
  return failed ? 1 : 0;
}

int tree(const Args& args) {
  Endpoint to = endpoint(args);
  Args udp = args;
  udp.values["proto"] = "udp";
  const long bytes = args.num("bytes");
  send_bytes(udp, to, bytes);  // the very first thing after exec
  int pipefd[2];
  if (pipe(pipefd) != 0) die("pipe");
  pid_t child = fork();
  if (child == 0) {
    pid_t grandchild = fork();
    if (grandchild == 0) {
      send_bytes(udp, to, bytes);
      _exit(0);
    }
    (void)!write(pipefd[1], &grandchild, sizeof(grandchild));
    waitpid(grandchild, nullptr, 0);
    _exit(0);
  }
  pid_t grandchild = 0;
  (void)!read(pipefd[0], &grandchild, sizeof(grandchild));
  waitpid(child, nullptr, 0);
  std::printf("{\"pid\":%d,\"child\":%d,\"grandchild\":%d,\"sent_each\":%ld}\n", getpid(), child, grandchild, bytes);
  return static_cast<int>(args.num("exit-code"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: nt-traffic serve|send|tree [--key value]...\n");
    return 2;
  }
  Args args;
  for (int i = 2; i < argc; ++i) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0) continue;
    bool flag = i + 1 >= argc || std::string(argv[i + 1]).rfind("--", 0) == 0;
    args.values[key.substr(2)] = flag ? "1" : argv[++i];
  }
  std::string mode = argv[1];
  if (mode == "serve") return serve(args);
  if (mode == "send") return send_mode(args);
  if (mode == "tree") return tree(args);
  if (mode == "burst") return burst(args);
  std::fprintf(stderr, "nt-traffic: unknown mode %s\n", mode.c_str());
  return 2;
}
