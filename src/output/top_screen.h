// The interactive `top` screen (ncurses): processes (rows with a recent anomaly highlighted), a
// CPU and an I/O view beside the network one (Tab or n/u/i switch), a flows view for the selected process, recent connections, recent anomalies, sort, filter, pause,
// help. The terminal is restored by the destructor, so every exit path (q, SIGINT, SIGTERM, an
// error unwinding) leaves it as it was.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "output/live_view.h"

namespace nt::output {

class TopScreen {
 public:
  static Result<std::unique_ptr<TopScreen>> open();
  ~TopScreen();
  TopScreen(const TopScreen&) = delete;
  TopScreen& operator=(const TopScreen&) = delete;

  // A new interval: copies what the views need, then redraws (unless paused).
  void update(const model::Snapshot& view);
  // Reads pending keys without waiting; false when the user asked to quit.
  bool handle_keys();

 private:
  enum class View { kProcesses, kCpu, kIo, kSyscalls, kFlows, kConnections, kAnomalies, kHelp };
  TopScreen() = default;
  void draw();
  void draw_header(int width);
  void draw_processes(int top, int bottom, int width);
  void draw_cpu(int top, int bottom, int width);
  void draw_io(int top, int bottom, int width);
  void draw_syscalls(int top, int bottom, int width);
  void draw_flows(int top, int bottom, int width);
  void draw_connections(int top, int bottom, int width);
  void draw_anomalies(int top, int bottom, int width);
  void draw_latest_anomaly(int row, int width);
  void draw_help(int top, int bottom);
  void draw_footer(int row, int width);
  std::vector<ProcessRow> visible_rows() const;

  // A copy of the last interval.
  model::ProcessTable processes_;
  model::FlowTable flows_;
  bool has_net_ = false;
  std::vector<CpuRow> cpu_;    // present when the cpu collector runs
  std::optional<std::vector<IoRow>> io_;
  std::vector<DiskRow> disks_;
  std::optional<std::vector<SyscallRow>> syscalls_;  // present when the syscalls collector runs
  bool has_cpu_ = false;
  std::map<model::ProcessKey, model::ProcessIdentity> identities_;
  std::vector<DeviceRate> devices_;
  std::vector<ProgramCost> programs_;
  std::deque<model::ConnEvent> conns_;
  bool detecting_ = false;
  std::deque<model::Anomaly> anomalies_;
  uint64_t lost_ = 0;
  double ts_ = 0, interval_s_ = 0, agent_cpu_share_ = 0;
  uint64_t agent_rss_ = 0;

  View view_ = View::kProcesses;
  SortKey sort_ = SortKey::kTxRate;
  std::string filter_;
  bool editing_filter_ = false;
  bool paused_ = false;
  int selected_ = 0;
  model::ProcessKey selected_key_;
};

}  // namespace nt::output
