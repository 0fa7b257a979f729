#include "bpf_runtime/kernel_env.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

Status probe_tracing_load(bpf_attach_type attach_type, const char* btf_function) {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return Error{"no vmlinux BTF"};
  int btf_id = btf__find_by_name_kind(vmlinux, btf_function, BTF_KIND_FUNC);
  btf__free(vmlinux);
  if (btf_id < 0) return Error{std::string(btf_function) + " is not in the kernel's BTF"};
  const bpf_insn return_zero[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach_type,
              .attach_btf_id = static_cast<__u32>(btf_id));
  int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "nt_probe", "GPL", return_zero, 2, &opts);
  if (fd < 0) return Error{std::string("load refused: ") + std::strerror(errno)};
  close(fd);
  return {};
}

}  // namespace nt::bpf
