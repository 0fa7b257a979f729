// nt-probed: the program tests/bpf/test_probes.py probes. It prints "ready", then runs one command
// per line of stdin and prints "done SINK NS" after each (NS: the command's time):
//   getpid N   calls the C library's getpid N times
//   spin N     calls ntprobe::Widget::spin(int) with 0..N-1 (libntprobe; odd turns return < 0)
//   tick N     passes the USDT probe ntprobe:tick N times
#include <sys/sdt.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "ntprobe_widget.h"

int main() {
  std::cout << "ready" << std::endl;
  ntprobe::Widget widget;
  std::string command;
  long count = 0;
  long sink = 0;
  while (std::cin >> command >> count) {
    const auto started = std::chrono::steady_clock::now();
    for (long i = 0; i < count; ++i) {
      if (command == "getpid") {
        sink += getpid();
      } else if (command == "spin") {
        sink += widget.spin(static_cast<int>(i));
      } else if (command == "tick") {
        DTRACE_PROBE1(ntprobe, tick, i);
      }
    }
    const auto took = std::chrono::steady_clock::now() - started;
    std::cout << "done " << sink << " " << std::chrono::duration_cast<std::chrono::nanoseconds>(took).count()
              << std::endl;
  }
  return 0;
}
