// Acceptance 4 of the foundation issue: sockets carry their owner's stamp even when they never
// move a byte (a zero-byte TCP connection) and from their first datagram (UDP). The stamp is
// read through the real socket-storage map, with the socket's own fd, by the process holding it.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "collectors/net/net_collector.h"
#include "shared/net_accounting.h"

namespace {

// What a child saw of one of its sockets.
struct StampReport {
  int32_t holder_pid = 0;
  int32_t found = 0;
  nt_sock_owner owner{};
};

StampReport read_stamp(int map_fd, int sock_fd) {
  StampReport report;
  report.holder_pid = getpid();
  report.found = bpf_map_lookup_elem(map_fd, &sock_fd, &report.owner) == 0;
  return report;
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

uint16_t port_of(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// Runs `body` in a child that reports through `out`; returns the child's pid.
template <class Body>
pid_t in_child(int out, Body body) {
  pid_t pid = fork();
  if (pid == 0) {
    body(out);
    _exit(0);
  }
  return pid;
}

void send_report(int out, const StampReport& report) { ASSERT_EQ(write(out, &report, sizeof(report)), sizeof(report)); }

StampReport receive_report(int in) {
  StampReport report;
  EXPECT_EQ(read(in, &report, sizeof(report)), static_cast<ssize_t>(sizeof(report)));
  return report;
}

class OwnerStamp : public ::testing::Test {
 protected:
  void SetUp() override {
    auto filter = nt::collectors::ProcessFilter::start({});
    ASSERT_TRUE(filter) << filter.error().message;
    filter_ = std::move(filter).value();
    auto started = nt::collectors::NetCollector::start({}, *filter_);
    ASSERT_TRUE(started) << started.error().message;
    collector_ = std::move(started).value();
    map_fd_ = collector_->sock_owner_map_fd();
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    reports_ = fds[0];
    out_ = fds[1];
  }
  std::unique_ptr<nt::collectors::ProcessFilter> filter_;  // before the collector: it outlives it
  void TearDown() override {
    close(reports_);
    close(out_);
  }
  bool has_feature(const std::string& name) const {
    for (const auto& feature : collector_->features())
      if (feature.name == name) return feature.available;
    return false;
  }
  void expect_owned_by(const StampReport& report, pid_t owner, uint32_t origin) {
    EXPECT_TRUE(report.found) << "socket of pid " << report.holder_pid << " has no stamp";
    EXPECT_EQ(report.holder_pid, owner);
    EXPECT_EQ(report.owner.tgid, static_cast<uint32_t>(owner));
    EXPECT_EQ(report.owner.origin, origin);
  }

  std::unique_ptr<nt::collectors::NetCollector> collector_;
  int map_fd_ = -1;
  int reports_ = -1;
  int out_ = -1;
};

TEST_F(OwnerStamp, ZeroByteTcpConnectionOnBothEnds) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  auto addr = loopback(0);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  // The listening process is a child of its own, so that the stamp names it and not this test.
  int map_fd = map_fd_;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t server = in_child(out_, [&](int out) {
    int own = socket(AF_INET, SOCK_STREAM, 0);
    auto any = loopback(0);
    bind(own, reinterpret_cast<sockaddr*>(&any), sizeof(any));
    listen(own, 1);
    uint16_t port = port_of(own);
    (void)!write(ready[1], &port, sizeof(port));
    send_report(out, read_stamp(map_fd, own));
    int accepted = accept(own, nullptr, nullptr);
    send_report(out, read_stamp(map_fd, accepted));
    close(accepted);
  });
  uint16_t port = 0;
  ASSERT_EQ(read(ready[0], &port, sizeof(port)), static_cast<ssize_t>(sizeof(port)));
  StampReport listening = receive_report(reports_);
  pid_t client = in_child(out_, [&](int out) {
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    auto to = loopback(port);
    if (connect(sock, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) _exit(1);
    send_report(out, read_stamp(map_fd, sock));
    close(sock);  // not one byte moved
  });
  StampReport first = receive_report(reports_);
  StampReport second = receive_report(reports_);
  const StampReport& connected = first.holder_pid == client ? first : second;
  const StampReport& accepted = first.holder_pid == client ? second : first;
  waitpid(server, nullptr, 0);
  waitpid(client, nullptr, 0);
  close(listener);

  // Kernels whose sock_ops may not ask who is calling (6.12 and older) leave the stamp of creation.
  const uint32_t listen_origin = has_feature("net.listen_stamps") ? NT_STAMP_LISTEN : NT_STAMP_CREATE;
  expect_owned_by(listening, server, listen_origin);
  expect_owned_by(connected, client, NT_STAMP_CONNECT);
  // Accepted in softirq, it inherits the listener's stamp (BPF_F_CLONE).
  expect_owned_by(accepted, server, listen_origin);
}

TEST_F(OwnerStamp, UdpFirstDatagramOnBothEnds) {
  int map_fd = map_fd_;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t receiver = in_child(out_, [&](int out) {
    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    auto any = loopback(0);
    bind(sock, reinterpret_cast<sockaddr*>(&any), sizeof(any));
    uint16_t port = port_of(sock);
    (void)!write(ready[1], &port, sizeof(port));
    char byte;
    recv(sock, &byte, 1, 0);
    send_report(out, read_stamp(map_fd, sock));
  });
  uint16_t port = 0;
  ASSERT_EQ(read(ready[0], &port, sizeof(port)), static_cast<ssize_t>(sizeof(port)));
  pid_t sender = in_child(out_, [&](int out) {
    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    auto to = loopback(port);
    sendto(sock, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    send_report(out, read_stamp(map_fd, sock));
  });
  StampReport first = receive_report(reports_);
  StampReport second = receive_report(reports_);
  waitpid(receiver, nullptr, 0);
  waitpid(sender, nullptr, 0);
  const StampReport& sent = first.holder_pid == sender ? first : second;
  const StampReport& received = first.holder_pid == sender ? second : first;
  expect_owned_by(sent, sender, NT_STAMP_CREATE);
  expect_owned_by(received, receiver, NT_STAMP_CREATE);
  EXPECT_NE(sent.owner.start_ns, 0u) << "the first datagram should have refined the stamp with the start time";
}

}  // namespace
