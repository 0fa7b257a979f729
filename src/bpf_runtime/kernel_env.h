// Where the kernel features this tracer relies on live on this host, found rather than assumed.
#pragma once

#include <linux/bpf.h>

#include <string>

#include "common/result.h"

namespace nt::bpf {

inline constexpr const char* kVmlinuxBtfPath = "/sys/kernel/btf/vmlinux";

// The cgroup v2 mount point (hybrid hosts mount it below /sys/fs/cgroup, e.g. /unified).
Result<std::string> find_cgroup2_mount();
// The tracefs mount point, needed only by classic tracepoints (tp_btf and raw_tp work without it).
Result<std::string> find_tracefs_mount();

// Whether the kernel loads a BTF-attached tracing program (fentry, an iterator, ...) on the
// function `btf_function`: an empty program is loaded and closed. Some kernels refuse fentry, or
// one iterator but not another, with EPERM at load; the error names the errno.
Status probe_tracing_load(bpf_attach_type attach_type, const char* btf_function);

// Fails with one line naming what is missing when BPF cannot work here at all (root, BTF).
Status check_bpf_prerequisites();

}  // namespace nt::bpf
