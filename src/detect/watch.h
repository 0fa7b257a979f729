// Live anomaly detection over what `record` writes: each interval's observations go in (from the
// model live, from the records in `replay`), typed anomalies come out. The watch reads nothing but what those records say (and its options), so replaying a
// recorded file (`neutracer replay FILE`) gives exactly the anomalies the live run gave.
//
// Series, one point per interval:
//   process: tx_rate, rx_rate, calls (socket calls/s), conn_opens (TCP opens/s);
//   flow:    rate (bytes/s both ways), srtt_us, retransmits (/s, less those the receiver had: DSACK);
//   device:  tx_rate, rx_rate;
//   cpu (sched records, a process's second series): on_cpu_share, runq_wait_us (mean wait);
//   disk:    io_latency_us (mean device time per request), queue_latency_us;
//   syscalls (a process's third series): syscall_errors (/s), syscall_latency_us (mean per call);
//   memory (its fourth): rss_bytes.
// Each is watched by an nt_detect Detector (log scale; docs/detect.md), silent for a warm-up, and
// its alerts are named by what they mean on that metric: burst, large_transfer, connection_storm,
// retransmit_spike, rtt_inflation, runq_latency, io_latency, error_burst, syscall_latency,
// memory_growth. A stall is decided by a rule the detectors cannot make: a
// series that was steady (its expected range stays above zero) reads zero for `stall_intervals`
// intervals in a row, unless the other ends of its flows stopped with it and none of them has data
// stuck in retransmission (then a job stopped as a whole: its end, not a stall). Memory is bounded: at most `max_series` series
// (beyond: counted, not watched); series of exited processes, closed flows and series absent for
// `retire_after` intervals are forgotten.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "detector.h"
#include "model/block_io.h"
#include "model/events.h"
#include "model/flows.h"
#include "model/memory.h"
#include "model/sched.h"
#include "model/snapshot.h"
#include "model/syscalls.h"

namespace nt::anomaly {

struct WatchOptions {
  int warmup_intervals = 30;
  size_t max_series = 20000;      // processes and devices
  size_t max_flow_series = 2000;  // flows (each flow series holds three detectors, about 5 KiB)
  int stall_intervals = 2;
  int retire_after = 60;
  double storm_opens_per_s = 200;  // opens/s that are a storm whatever the process did before
  // A flow loses packets when, over the last `loss_window` intervals, at least `loss_min_segments`
  // of its sent segments, and `loss_share` of them, were retransmitted (DSACKed ones left out).
  int loss_window = 4;
  double loss_min_segments = 8;
  double loss_share = 0.005;
};

// The detectors' settings for interval series: log scale (rates span decades), the watch's warm-up,
// episodes that clear after ten calm intervals. The server uses them too, so that what it flags in
// a stored series is what the agent would have flagged live.
detect::Config detector_config(const WatchOptions& options);

// What one record says to the watch, taken out of it at once (records are not kept).
struct Observation {
  std::string type, key, comm, flow, ifname;
  std::string local, remote;  // a flow's ends (loopback ends qualified by namespace)
  uint64_t pid = 0, start_time = 0, netns = 0;
  double tx_rate = 0, rx_rate = 0, calls = 0, srtt_us = -1, retransmits = 0, tx_bytes = 0, rx_bytes = 0;
  double sent_segments = 0;  // flows: at least one per send call, at most a full segment's bytes each
  double cpu_share = -1, runq_wait_us = -1;           // sched: -1 when the interval had none
  double io_latency_us = -1, queue_latency_us = -1;   // disk
  double syscall_calls = 0, syscall_errors = 0, syscall_time_ms = 0;  // syscalls: cumulative
  double rss_bytes = -1;                               // memory: -1 when not known
  bool ending = false, open = false;
  bool on_host = false;  // flows: both ends on this host (loopback, or one address): no network between
  // What an anomaly on its series names: kind, process (or a device's namespace), comm, subject.
  model::Anomaly subject() const;
  bool operator==(const Observation&) const = default;
};

// A record's observation; none for records the watch does not read (process, flow, device, conn,
// sched, disk, syscalls and memory records are read).
std::optional<Observation> observe(const nlohmann::ordered_json& record);
// From the model, as the agent observes live: each gives what observe() gives for the record the
// same model object renders to, without writing and reading it (tests/unit/anomaly holds each
// pair to that). `replay` reads the records: JSON is read only there.
Observation observe_flow(const model::FlowTraffic& flow, const model::FlowShown& shown, const std::string& comm);
Observation observe_process(const model::ProcessTraffic& process, double interval_s, bool exited);
Observation observe_conn(const model::ConnEvent& event);
Observation observe_device(const model::DeviceStats& device);
Observation observe_sched(const model::ProcessSched& process, double interval_s);
Observation observe_disk(const model::DeviceIo& disk);
Observation observe_syscalls(const model::ProcessSyscalls& process);
Observation observe_memory(const model::ProcessMemory& process);

class Watch {
 public:
  explicit Watch(const WatchOptions& options);
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  // What a record written during the interval said.
  void add(Observation observation);
  // The interval ends (its loss record, at `ts`): the anomalies it raised.
  std::vector<model::Anomaly> close_interval(double ts);

  const std::map<std::string, uint64_t>& raised_by_detector() const { return raised_; }
  size_t series() const;
  size_t peak_series() const { return peak_series_; }
  uint64_t series_not_watched() const { return not_watched_; }

 private:
  struct Series;
  Series* series_for(const Observation& observation);
  void point(Series& series, const std::string& metric, double value, double ts, std::vector<model::Anomaly>& out);
  bool stall_confirmed(const Series& series) const;
  bool losing(const Series& series) const;
  double losing_share(const Series& series) const;

  // This interval's flows by their ends, and by process, for the stall rule.
  std::map<std::pair<std::string, std::string>, const Series*> flows_by_ends_;
  std::map<std::string, std::vector<const Series*>> flows_of_process_;

  WatchOptions options_;
  detect::Config detector_config_;
  std::map<std::string, std::unique_ptr<Series>> series_;
  std::vector<Observation> pending_;
  std::map<std::string, uint64_t> raised_;
  uint64_t not_watched_ = 0;
  size_t peak_series_ = 0;
  size_t flow_series_ = 0;
  int64_t interval_ = 0;
  double last_ts_ = 0;
  double interval_s_ = 0;
};

}  // namespace nt::anomaly
