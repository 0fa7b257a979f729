#include "agent/doctor.h"

#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "bpf_runtime/kernel_env.h"
#include "collectors/net/net_collector.h"

namespace nt::agent {
namespace {

struct Check {
  const char* feature;
  bool ok;
  std::string detail;
  bool required;  // the default mode needs it
};

void print(const Check& check) {
  const char* verdict = check.ok ? "ok" : (check.required ? "MISSING" : "absent");
  std::printf("%-8s %-28s %s\n", verdict, check.feature, check.detail.c_str());
}

// fentry/fexit would be the cheapest kernel hooks; some kernels refuse them (EPERM at load).
Check probe_fentry() {
  auto loads = bpf::probe_tracing_load(BPF_TRACE_FENTRY, "tcp_sendmsg");
  return {"fentry/fexit", loads.ok(),
          loads ? "loads (not needed: NeuTracer uses tracepoints)" : loads.error().message + " (not needed)", false};
}

// Live sockets are read through the socket storage iterator where the kernel allows it, else
// through every process's open files (dearer with many processes, same numbers).
Check probe_socket_storage_iterator() {
  auto loads = bpf::probe_tracing_load(BPF_TRACE_ITER, "bpf_iter_bpf_sk_storage_map");
  return {"socket storage iterator", loads.ok(),
          loads ? "iter/bpf_sk_storage_map loads" : loads.error().message + " (iter/task_file is used instead)",
          false};
}

Check probe_kprobes() {
  bool present = access("/sys/bus/event_source/devices/kprobe/type", R_OK) == 0;
  return {"kprobes", present,
          present ? "kprobe PMU present (not needed)" : "kernel without CONFIG_KPROBES (not needed: tracepoints only)",
          false};
}

}  // namespace

int run_doctor() {
  bool root = geteuid() == 0;
  Check checks[] = {
      {"root", root, root ? "running as root" : "BPF needs root", true},
      {"BTF", access(bpf::kVmlinuxBtfPath, R_OK) == 0, bpf::kVmlinuxBtfPath, true},
  };
  bool usable = true;
  for (const auto& check : checks) {
    print(check);
    usable = usable && check.ok;
  }
  auto cgroup2 = bpf::find_cgroup2_mount();
  Check cgroup_check{"cgroup2 mount", cgroup2.ok(), cgroup2 ? cgroup2.value() : cgroup2.error().message, true};
  print(cgroup_check);
  auto tracefs = bpf::find_tracefs_mount();
  print({"tracefs", tracefs.ok(),
         tracefs ? tracefs.value() + " (classic tracepoints)" : "not mounted (not needed: tp_btf is used)", false});
  if (!root || !usable) {
    std::printf("record: cannot run here\n");
    return 1;
  }
  // The real programs are the probe: tp_btf sock tracepoints, socket storage, cgroup hooks.
  auto collector = collectors::NetCollector::start({});
  print({"record (net accounting)", collector.ok(),
         collector ? "tp_btf sock_send/recv_length, socket storage, cgroup sock_create/connect, sock_ops"
                   : collector.error().message,
         true});
  print(probe_kprobes());
  print(probe_fentry());
  print(probe_socket_storage_iterator());
  return collector.ok() && cgroup_check.ok ? 0 : 1;
}

}  // namespace nt::agent
