// Device totals from the kernel's own counters (rtnetlink IFLA_STATS64), per network namespace:
// exact, and free of any per-packet cost.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "model/events.h"

namespace nt::collectors {

class RtnlDevices {
 public:
  // Every device of every network namespace on the host (or of `only_netns` when not 0).
  // Namespaces are found through /proc/*/ns/net and /run/netns; a namespace that cannot be
  // read is counted in `failures` and skipped.
  std::vector<model::DeviceStats> read(uint32_t only_netns, uint64_t& failures);

 private:
  Result<int> socket_in(uint32_t netns, const std::string& ns_path);
  std::map<uint32_t, UniqueFd> sockets_;  // a netlink socket stays in the namespace it was made in
};

// One RTM_GETLINK dump on a NETLINK_ROUTE socket.
Result<std::vector<model::DeviceStats>> dump_links(int netlink_fd, uint32_t netns);

}  // namespace nt::collectors
