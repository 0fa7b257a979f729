#include "collectors/devices/rtnl_devices.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

namespace nt::collectors {
namespace {

// Every network namespace that a process or a bind mount in /run/netns keeps alive: inode -> path.
std::map<uint32_t, std::string> find_namespaces() {
  std::map<uint32_t, std::string> found;
  auto add = [&](const std::string& path) {
    struct stat st{};
    if (stat(path.c_str(), &st) == 0) found.emplace(static_cast<uint32_t>(st.st_ino), path);
  };
  add("/proc/self/ns/net");
  if (DIR* dir = opendir("/run/netns")) {
    while (dirent* entry = readdir(dir))
      if (entry->d_name[0] != '.') add(std::string("/run/netns/") + entry->d_name);
    closedir(dir);
  }
  if (DIR* proc = opendir("/proc")) {
    while (dirent* entry = readdir(proc))
      if (entry->d_name[0] >= '1' && entry->d_name[0] <= '9')
        add(std::string("/proc/") + entry->d_name + "/ns/net");
    closedir(proc);
  }
  return found;
}

}  // namespace

Result<std::vector<model::DeviceStats>> dump_links(int fd, uint32_t netns) {
  struct {
    nlmsghdr header;
    ifinfomsg info;
  } request{};
  request.header.nlmsg_len = sizeof(request);
  request.header.nlmsg_type = RTM_GETLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = 1;
  request.info.ifi_family = AF_UNSPEC;
  if (send(fd, &request, sizeof(request), 0) < 0) return errno_error("rtnetlink request", errno);

  std::vector<model::DeviceStats> devices;
  std::vector<char> buffer(64 * 1024);
  while (true) {
    ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("rtnetlink reply", errno);
    }
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(h, static_cast<unsigned>(n));
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) return devices;
      if (h->nlmsg_type == NLMSG_ERROR) return Error{"rtnetlink dump failed"};
      if (h->nlmsg_type != RTM_NEWLINK) continue;
      auto* info = static_cast<ifinfomsg*>(NLMSG_DATA(h));
      model::DeviceStats device;
      device.key = {netns, static_cast<uint32_t>(info->ifi_index)};
      int len = static_cast<int>(IFLA_PAYLOAD(h));
      for (auto* attr = IFLA_RTA(info); RTA_OK(attr, len); attr = RTA_NEXT(attr, len)) {
        if (attr->rta_type == IFLA_IFNAME) {
          device.ifname = static_cast<const char*>(RTA_DATA(attr));
        } else if (attr->rta_type == IFLA_STATS64 && RTA_PAYLOAD(attr) >= sizeof(rtnl_link_stats64)) {
          rtnl_link_stats64 stats;
          std::memcpy(&stats, RTA_DATA(attr), sizeof(stats));
          device.counters = {stats.tx_bytes, stats.rx_bytes, stats.tx_packets, stats.rx_packets};
          device.drops = stats.rx_dropped + stats.tx_dropped;
        }
      }
      devices.push_back(std::move(device));
    }
  }
}

Result<int> RtnlDevices::socket_in(uint32_t netns, const std::string& ns_path) {
  if (auto it = sockets_.find(netns); it != sockets_.end()) return it->second.get();
  UniqueFd ns_fd(open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns_fd.valid()) return errno_error("opening " + ns_path, errno);
  // setns() moves only the calling thread: make the socket on a thread of its own.
  int fd = -1, err = 0;
  std::thread maker([&] {
    if (setns(ns_fd.get(), CLONE_NEWNET) != 0) {
      err = errno;
      return;
    }
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) err = errno;
  });
  maker.join();
  if (fd < 0) return errno_error("netlink socket in " + ns_path, err);
  sockets_.emplace(netns, UniqueFd(fd));
  return fd;
}

std::vector<model::DeviceStats> RtnlDevices::read(uint32_t only_netns, uint64_t& failures) {
  std::vector<model::DeviceStats> all;
  auto namespaces = find_namespaces();
  for (auto it = sockets_.begin(); it != sockets_.end();)  // namespaces that are gone
    it = namespaces.count(it->first) ? std::next(it) : sockets_.erase(it);
  for (const auto& [netns, path] : namespaces) {
    if (only_netns && netns != only_netns) continue;
    auto fd = socket_in(netns, path);
    auto devices = fd ? dump_links(fd.value(), netns) : Result<std::vector<model::DeviceStats>>(fd.error());
    if (!devices) {
      if (access(path.c_str(), F_OK) == 0) ++failures;  // else: the namespace went away, nothing lost
      sockets_.erase(netns);
      continue;
    }
    for (auto& d : devices.value()) all.push_back(std::move(d));
  }
  return all;
}

}  // namespace nt::collectors
