#include "bpf_runtime/kernel_env.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace nt::bpf {
namespace {
// Field 5 of /proc/self/mountinfo is the mount point; the filesystem type follows " - ".
Result<std::string> find_mount_of_type(const std::string& fstype) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  if (!mountinfo) return Error{"cannot read /proc/self/mountinfo"};
  std::string line;
  while (std::getline(mountinfo, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string type;
    tail >> type;
    if (type != fstype) continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mount_point;
    head >> id >> parent >> devno >> root >> mount_point;
    return mount_point;
  }
  return Error{"no " + fstype + " filesystem is mounted"};
}
}  // namespace

Result<std::string> find_cgroup2_mount() { return find_mount_of_type("cgroup2"); }
Result<std::string> find_tracefs_mount() { return find_mount_of_type("tracefs"); }

Status check_bpf_prerequisites() {
  if (geteuid() != 0) return Error{"must run as root (loading BPF programs needs CAP_BPF and CAP_PERFMON)"};
  if (access(kVmlinuxBtfPath, R_OK) != 0)
    return Error{std::string("kernel BTF not found at ") + kVmlinuxBtfPath +
                 " (a kernel built with CONFIG_DEBUG_INFO_BTF=y is required)"};
  return {};
}

}  // namespace nt::bpf
