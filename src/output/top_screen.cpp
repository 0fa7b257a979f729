#include "output/top_screen.h"

#include <ncurses.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace nt::output {
namespace {

// printw-like, clipped to the line's width.
void put(int row, int col, int width, const std::string& text) {
  if (col >= width) return;
  mvaddnstr(row, col, text.c_str(), width - col);
}

std::string format(const char* fmt, auto... args) {
  char buffer[512];
  std::snprintf(buffer, sizeof(buffer), fmt, args...);
  return buffer;
}

std::string clock_text(double ts) {
  time_t seconds = static_cast<time_t>(ts);
  char clock[16] = "";
  std::strftime(clock, sizeof(clock), "%H:%M:%S", std::localtime(&seconds));
  return clock;
}

// What is recent stands out in red where the terminal has colours; the `!` marker says it without.
constexpr short kAnomalyColorPair = 1;
attr_t anomaly_attributes() { return A_BOLD | (has_colors() ? COLOR_PAIR(kAnomalyColorPair) : 0); }

// A process row is this wide; the marker of a recent anomaly follows it after a space.
constexpr int kProcessRowColumns = 78;

std::string endpoint_text(const model::Endpoint& e) {
  std::string addr = model::format_address(e);
  return (model::shown_family(e) == 6 ? "[" + addr + "]" : addr) + ":" + std::to_string(e.port);
}

}  // namespace

Result<std::unique_ptr<TopScreen>> TopScreen::open() {
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
    return Error{"top needs a terminal (use --batch for logs and pipes)"};
  if (!initscr()) return Error{"cannot initialise the terminal"};
  std::unique_ptr<TopScreen> screen(new TopScreen());
  cbreak();
  noecho();
  nodelay(stdscr, TRUE);
  keypad(stdscr, TRUE);
  curs_set(0);
  if (has_colors() && start_color() == OK) {
    short background = use_default_colors() == OK ? -1 : COLOR_BLACK;
    init_pair(kAnomalyColorPair, COLOR_RED, background);
  }
  return screen;
}

TopScreen::~TopScreen() { endwin(); }

void TopScreen::update(const model::Snapshot& view) {
  has_net_ = view.processes != nullptr;
  if (view.processes) processes_ = *view.processes;
  if (view.flows) flows_ = *view.flows;
  has_cpu_ = view.sched != nullptr;
  cpu_ = cpu_rows(view, filter_);
  if (view.block_io) io_ = io_rows(view, filter_);
  if (view.syscalls) syscalls_ = syscall_rows(view, filter_);
  disks_ = disk_rows(view);
  if (!has_net_ && view_ == View::kProcesses)
    view_ = has_cpu_ ? View::kCpu : view.block_io ? View::kIo : view.syscalls ? View::kSyscalls : View::kCpu;
  if (view.identities) identities_ = *view.identities;
  devices_ = device_rates(view);
  programs_ = program_costs(view);
  if (view.recent_conns) conns_ = *view.recent_conns;
  detecting_ = view.anomalies != nullptr;
  if (view.anomalies) anomalies_ = *view.anomalies;
  lost_ = 0;
  if (view.losses)
    for (uint64_t n : *view.losses) lost_ += n;
  ts_ = view.ts;
  interval_s_ = view.interval_s;
  agent_cpu_share_ = view.agent_cpu_share;
  agent_rss_ = view.agent_rss_bytes;
  if (!paused_) draw();
}

std::vector<ProcessRow> TopScreen::visible_rows() const {
  model::Snapshot view;
  view.ts = ts_;
  view.interval_s = interval_s_;
  view.anomalies = &anomalies_;
  view.processes = &processes_;
  view.flows = &flows_;
  view.identities = &identities_;
  return process_rows(view, sort_, filter_);
}

bool TopScreen::handle_keys() {
  bool changed = false;
  for (int key = getch(); key != ERR; key = getch()) {
    changed = true;
    if (editing_filter_) {
      if (key == '\n' || key == KEY_ENTER) {
        editing_filter_ = false;
      } else if (key == 27) {
        editing_filter_ = false;
        filter_.clear();
      } else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
        if (!filter_.empty()) filter_.pop_back();
      } else if (key >= 0x20 && key < 0x7f && filter_.size() < 15) {
        filter_.push_back(static_cast<char>(key));
      }
      continue;
    }
    switch (key) {
      case 'q': return false;
      case 'h': case '?': view_ = view_ == View::kHelp ? View::kProcesses : View::kHelp; break;
      case 's': sort_ = static_cast<SortKey>((static_cast<int>(sort_) + 1) % 5); break;
      case 't': sort_ = SortKey::kTxRate; break;
      case 'r': sort_ = SortKey::kRxRate; break;
      case 'p': case ' ': paused_ = !paused_; break;
      case '/': editing_filter_ = true; filter_.clear(); break;
      case 'c': view_ = View::kConnections; break;
      case 'n': view_ = View::kProcesses; break;
      case 'u': view_ = View::kCpu; break;
      case 'i': view_ = View::kIo; break;
      case 'y': view_ = View::kSyscalls; break;
      case '\t':
        view_ = view_ == View::kProcesses ? View::kCpu
                : view_ == View::kCpu     ? View::kIo
                : view_ == View::kIo      ? View::kSyscalls
                                          : View::kProcesses;
        break;
      case 'a': view_ = View::kAnomalies; break;
      case 'f': case '\n': case KEY_ENTER: case KEY_RIGHT:
        if (view_ == View::kProcesses) view_ = View::kFlows;
        break;
      case 27: case KEY_LEFT: case KEY_BACKSPACE: case 127: view_ = View::kProcesses; break;
      case KEY_UP: case 'k': selected_ = std::max(0, selected_ - 1); break;
      case KEY_DOWN: case 'j': ++selected_; break;
      default: break;  // KEY_RESIZE and the rest: just redraw
    }
  }
  if (changed) draw();
  return true;
}

void TopScreen::draw() {
  erase();
  int height = 0, width = 0;
  getmaxyx(stdscr, height, width);
  if (height < 6 || width < 40) {
    put(0, 0, width, "terminal too small");
    refresh();
    return;
  }
  draw_header(width);
  int footer = height - 2;
  // With detection on, the line above the footer shows the latest anomaly.
  int bottom = detecting_ ? footer - 1 : footer;
  switch (view_) {
    case View::kProcesses: draw_processes(3, bottom, width); break;
    case View::kCpu: draw_cpu(3, bottom, width); break;
    case View::kIo: draw_io(3, bottom, width); break;
    case View::kSyscalls: draw_syscalls(3, bottom, width); break;
    case View::kFlows: draw_flows(3, bottom, width); break;
    case View::kConnections: draw_connections(3, bottom, width); break;
    case View::kAnomalies: draw_anomalies(3, bottom, width); break;
    case View::kHelp: draw_help(3, bottom); break;
  }
  if (detecting_) draw_latest_anomaly(bottom, width);
  draw_footer(footer, width);
  refresh();
}

void TopScreen::draw_header(int width) {
  std::string title =
      format("NeuTracer top  %s  every %.3gs  sort: %s", clock_text(ts_).c_str(), interval_s_, sort_name(sort_));
  auto recent = std::count_if(anomalies_.begin(), anomalies_.end(),
                              [this](const model::Anomaly& a) { return within_mark(a, ts_); });
  if (recent) title += format("  %ld anomal%s in %.0fs", static_cast<long>(recent), recent == 1 ? "y" : "ies",
                              kAnomalyMarkS);
  if (!filter_.empty() || editing_filter_) title += "  filter: " + filter_ + (editing_filter_ ? "_" : "");
  if (paused_) title += "  [paused]";
  title += "   h: help";
  attron(A_BOLD);
  put(0, 0, width, title);
  attroff(A_BOLD);
  std::string interfaces;
  uint64_t drops = 0;
  for (const auto& d : devices_) {
    if (d.tx_rate == 0 && d.rx_rate == 0) continue;
    interfaces += format("%s tx %s rx %s  ", printable(d.ifname).c_str(), human_rate(d.tx_rate).c_str(),
                         human_rate(d.rx_rate).c_str());
  }
  for (const auto& d : devices_) drops += d.drops;
  interfaces += format("| dev drops %llu  lost %llu", static_cast<unsigned long long>(drops),
                       static_cast<unsigned long long>(lost_));
  put(1, 0, width, interfaces);
}

void TopScreen::draw_processes(int top, int bottom, int width) {
  attron(A_REVERSE);
  put(top - 1, 0, width, format("%-*s", width, format("%7s %-6s %-12s %9s %9s %6s %6s %4s %4s %6s", "PID", "USER",
                                                         "COMMAND", "TX/s", "RX/s", "TX", "RX", "FLW", "RETR",
                                                         "RTT").c_str()));
  attroff(A_REVERSE);
  auto rows = visible_rows();
  if (rows.empty()) {
    put(top, 0, width, filter_.empty() ? "no traffic yet" : "no process matches the filter");
    return;
  }
  selected_ = std::min(selected_, static_cast<int>(rows.size()) - 1);
  selected_key_ = rows[selected_].key;
  int first = std::max(0, selected_ - (bottom - top) + 1);
  // The marker keeps its column even on a narrow terminal, over the row's clipped end.
  int marker_column = std::min(kProcessRowColumns + 1, width - 1);
  for (int i = first, row = top; i < static_cast<int>(rows.size()) && row < bottom; ++i, ++row) {
    const auto& r = rows[i];
    std::string rtt = r.srtt_us ? human_duration_us(*r.srtt_us) : "-";
    attr_t attributes = (i == selected_ ? A_REVERSE : A_NORMAL) | (r.recent_anomaly ? anomaly_attributes() : A_NORMAL);
    attron(attributes);
    put(row, 0, marker_column - 1,
        format("%7u %-6.6s %-12.12s %9s %9s %6s %6s %4u %4llu %6s", r.key.tgid, r.user.c_str(), r.comm.c_str(),
               human_rate(r.tx_rate).c_str(), human_rate(r.rx_rate).c_str(), human_size(r.tx_bytes).c_str(),
               human_size(r.rx_bytes).c_str(), r.flows, static_cast<unsigned long long>(r.retransmits),
               rtt.c_str()));
    if (r.recent_anomaly) put(row, marker_column, width, "!");
    attroff(attributes);
  }
}

void TopScreen::draw_cpu(int top, int bottom, int width) {
  attron(A_REVERSE);
  put(top - 1, 0, width, format("%-*s", width, format("%7s %-14s %6s %6s %9s %8s %8s %7s %4s", "PID", "COMMAND", "CPU%",
                                                         "RUNQ%", "RUNQ_P99", "VCSW/s", "ICSW/s", "MIGR/s", "THR")
                                                      .c_str()));
  attroff(A_REVERSE);
  if (!has_cpu_) {
    put(top, 0, width, "the cpu collector is not running (neutracer top --collect net,cpu)");
    return;
  }
  int row = top;
  for (const auto& r : cpu_) {
    if (row >= bottom) break;
    put(row++, 0, width, format("%7u %-14.14s %6.1f %6.1f %9s %8.0f %8.0f %7.0f %4zu", r.key.tgid, r.comm.c_str(),
                                r.cpu_share * 100, r.runq_share * 100, human_duration_us(r.runq_p99_us).c_str(),
                                r.voluntary_per_s, r.involuntary_per_s, r.migrations_per_s, r.threads));
  }
  if (row == top) put(top, 0, width, "no process ran in the last interval");
}

void TopScreen::draw_io(int top, int bottom, int width) {
  attron(A_REVERSE);
  put(top - 1, 0, width, format("%-*s", width, format("%7s %-16s %10s %10s %8s %9s", "PID", "COMMAND", "READ/s",
                                                         "WRITE/s", "OPS/s", "DEV_P99").c_str()));
  attroff(A_REVERSE);
  if (!io_) {
    put(top, 0, width, "the io collector is not running (neutracer top --collect net,io)");
    return;
  }
  int row = top;
  for (const auto& r : *io_) {
    if (row >= bottom - static_cast<int>(disks_.size()) - 1) break;
    std::string comm = r.kernel_thread ? "[" + r.comm + "]" : r.comm;
    put(row++, 0, width, format("%7u %-16.16s %10s %10s %8.0f %9s", r.key.tgid, comm.c_str(),
                                human_rate(r.read_rate).c_str(), human_rate(r.write_rate).c_str(), r.ops_per_s,
                                human_duration_us(r.device_p99_us).c_str()));
  }
  if (row == top) put(row++, 0, width, "no block I/O completed in the last interval");
  if (row >= bottom) return;
  attron(A_REVERSE);
  put(row++, 0, width, format("%-*s", width, format("%-16s %10s %10s %8s %9s %9s", "DEVICE", "READ/s", "WRITE/s",
                                                     "OPS/s", "QUEUE_P99", "DEV_P99").c_str()));
  attroff(A_REVERSE);
  for (const auto& d : disks_) {
    if (row >= bottom) break;
    put(row++, 0, width, format("%-16.16s %10s %10s %8.0f %9s %9s", d.name.c_str(), human_rate(d.read_rate).c_str(),
                                human_rate(d.write_rate).c_str(), d.ops_per_s, human_duration_us(d.queue_p99_us).c_str(),
                                human_duration_us(d.device_p99_us).c_str()));
  }
}

void TopScreen::draw_syscalls(int top, int bottom, int width) {
  attron(A_REVERSE);
  put(top - 1, 0, width, format("%-*s", width, format("%7s %-16s %6s %10s %9s %9s  %s", "PID", "COMMAND", "SYS%",
                                                         "CALLS/s", "ERRORS/s", "P99", "BUSIEST").c_str()));
  attroff(A_REVERSE);
  if (!syscalls_) {
    put(top, 0, width, "the syscalls collector is not running (neutracer top --collect net,syscalls)");
    return;
  }
  int row = top;
  for (const auto& r : *syscalls_) {
    if (row >= bottom) break;
    put(row++, 0, width, format("%7u %-16.16s %6.1f %10.0f %9.0f %9s  %s %.0f%%", r.key.tgid, r.comm.c_str(),
                                r.time_share * 100, r.calls_per_s, r.errors_per_s, human_duration_us(r.p99_us).c_str(),
                                r.busiest.c_str(), r.busiest_share * 100));
  }
  if (row == top) put(top, 0, width, "no syscall returned in the last interval");
}

void TopScreen::draw_flows(int top, int bottom, int width) {
  auto process = processes_.processes().find(selected_key_);
  std::string who = process == processes_.processes().end() ? "?" : printable(process->second.comm);
  attron(A_REVERSE);
  put(top - 1, 0, width, format("%-*s", width, format("flows of %u %s  (Esc: back)   %-5s %-22s %-22s %7s %7s %4s",
                                                         selected_key_.tgid, who.c_str(), "PROTO", "LOCAL", "REMOTE",
                                                         "TX", "RX", "RETR").c_str()));
  attroff(A_REVERSE);
  int row = top;
  for (const auto& [key, flow] : flows_.flows()) {
    if (!(key.process == selected_key_) || row >= bottom) continue;
    put(row++, 0, width, format("%-5s %-22s %-22s %7s %7s %4u %s", key.protocol == 6 ? "tcp" : "udp",
                                endpoint_text(key.local).c_str(), endpoint_text(key.remote).c_str(),
                                human_size(flow.total.tx_bytes).c_str(), human_size(flow.total.rx_bytes).c_str(),
                                flow.retransmits, flow.srtt_us ? format("%uus", flow.srtt_us).c_str() : ""));
  }
  if (row == top) put(top, 0, width, "no active flow");
}

void TopScreen::draw_connections(int top, int bottom, int width) {
  attron(A_REVERSE);
  put(top - 1, 0, width, format("%-*s", width, "recent connections (Esc: back)   EVENT PID COMM LOCAL REMOTE DURATION"));
  attroff(A_REVERSE);
  int row = top;
  for (auto it = conns_.rbegin(); it != conns_.rend() && row < bottom; ++it, ++row) {
    std::string duration = it->duration_ns ? format("%.1fms", *it->duration_ns / 1e6) : "";
    put(row, 0, width, format("%-5s %7u %-12.12s %-22s %-22s %s", it->open ? "open" : "close", it->owner.tgid,
                              printable(it->comm).c_str(), endpoint_text(it->local).c_str(),
                              endpoint_text(it->remote).c_str(), duration.c_str()));
  }
  if (row == top) put(top, 0, width, "no connection opened or closed yet");
}

void TopScreen::draw_anomalies(int top, int bottom, int width) {
  attron(A_REVERSE);
  put(top - 1, 0, width,
      format("%-*s", width, "recent anomalies, newest first (Esc: back)   TIME DETECTOR METRIC VALUE"));
  attroff(A_REVERSE);
  // Two lines each: what was measured against what was expected, then whose it was.
  int row = top;
  for (auto it = anomalies_.rbegin(); it != anomalies_.rend() && row + 1 < bottom; ++it, row += 2) {
    attr_t attributes = within_mark(*it, ts_) ? anomaly_attributes() : A_NORMAL;
    attron(attributes);
    put(row, 0, width, format("%-8s %-16s %-11s %9s  expected %s-%s", clock_text(it->ts).c_str(),
                              it->detector.c_str(), it->metric.c_str(), metric_text(it->metric, it->value).c_str(),
                              metric_text(it->metric, it->expected_low).c_str(),
                              metric_text(it->metric, it->expected_high).c_str()));
    attroff(attributes);
    put(row + 1, 9, width, anomaly_subject(*it));
  }
  if (row == top) put(top, 0, width, "no anomaly yet");
}

void TopScreen::draw_latest_anomaly(int row, int width) {
  if (anomalies_.empty()) {
    put(row, 0, width, "no anomaly yet (a: recent anomalies)");
    return;
  }
  const auto& latest = anomalies_.back();
  attr_t attributes = within_mark(latest, ts_) ? anomaly_attributes() : A_NORMAL;
  attron(attributes);
  put(row, 0, width, "anomaly " + clock_text(latest.ts) + " " + describe_anomaly(latest));
  attroff(attributes);
}

void TopScreen::draw_help(int top, int bottom) {
  const std::string lines[] = {
      "q        quit",
      "Tab      next view: network, CPU, I/O, syscalls (n, u, i, y: each directly)",
      "s        next sort key (TX/s, RX/s, total, pid, retrans); t, r: by TX/s, RX/s",
      "/        filter by command name (Enter: keep, Esc: clear)",
      "Enter f  flows of the selected process; c: recent connections; Esc: back",
      "a        recent anomalies, newest first; Esc: back",
      "Up/Down  select (j/k too)",
      "p Space  pause the display (collection goes on)",
      "h ?      this help",
      "",
      "Bytes are payload counted at the socket layer, per process; RTT is the largest",
      "srtt of its TCP flows. The footer shows what the tracer itself costs.",
      "A row marked ! (bold, red) had an anomaly, on it or one of its flows, in the",
      format("last %.0f s; the line above the footer shows the latest anomaly.", kAnomalyMarkS),
  };
  int row = top;
  for (const auto& line : lines)
    if (row < bottom) put(row++, 2, COLS, line);
}

void TopScreen::draw_footer(int row, int width) {
  std::string bpf = "BPF";
  for (const auto& p : programs_) {
    if (p.events_per_s == 0) continue;
    bpf += format("  %s %s/s", p.name.c_str(), human_count(p.events_per_s).c_str());
    if (p.ns_per_event > 0) bpf += format(" %.0fns", p.ns_per_event);
    if (p.recursion_misses) bpf += format(" miss %llu", static_cast<unsigned long long>(p.recursion_misses));
  }
  put(row, 0, width, bpf);
  put(row + 1, 0, width, format("agent CPU %.1f%%  RSS %s", agent_cpu_share_ * 100, human_size(agent_rss_).c_str()));
}

}  // namespace nt::output
