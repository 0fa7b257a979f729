#include "agent/doctor.h"

#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "bpf_runtime/kernel_env.h"
#include "collectors/collector.h"
#include "collectors/net/net_collector.h"
#include "collectors/process_filter.h"

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
  std::printf("%-8s %-22s %s\n", verdict, check.feature, check.detail.c_str());
}

Check probe_kprobes() {
  bool present = access("/sys/bus/event_source/devices/kprobe/type", R_OK) == 0;
  return {"kprobes", present, present ? "kprobe PMU present" : "kernel without CONFIG_KPROBES", false};
}

Check probe_fentry() {
  auto loads = bpf::probe_tracing_load(BPF_TRACE_FENTRY, "inet_sendmsg");
  return {"fentry/fexit", loads.ok(), loads ? "loads" : loads.error().message, false};
}

// A feature as the real programs found it: in use and how, or missing and why.
void print_feature(const model::FeatureState& f) {
  std::string detail = f.available ? f.via + ": " + f.needs : "needs " + f.needs;
  if (!f.reason.empty()) detail += f.available ? " (refused first: " + f.reason + ")" : " (refused: " + f.reason + ")";
  print({f.name.c_str(), f.available, detail, f.required});
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
  print(probe_kprobes());
  print(probe_fentry());
  // The real programs are the probe: every feature of every collector, packet mode included.
  auto filter = collectors::ProcessFilter::start({});
  if (!filter) {
    print({"filter", false, filter.error().message, true});
    return 1;
  }
  for (const auto& feature : filter.value()->features()) print_feature(feature);
  collectors::NetConfig everything;
  everything.packets = true;
  auto net = collectors::NetCollector::start(everything, *filter.value());
  if (!net) {
    print({"net", false, net.error().message, true});
  } else {
    for (const auto& feature : net.value()->features()) print_feature(feature);
  }
  for (const auto& kind : collectors::collector_kinds()) {
    if (!kind.start) continue;  // net, above
    auto other = kind.start({*filter.value()});
    if (!other) {
      print({kind.name.c_str(), false, other.error().message, false});
      continue;
    }
    for (const auto& feature : other.value()->features()) print_feature(feature);
  }
  return net.ok() && cgroup_check.ok ? 0 : 1;
}

}  // namespace nt::agent
