// libntprobe: a C++ shared library whose methods tests/bpf/test_probes.py probes by their
// demangled names.
#include "ntprobe_widget.h"

namespace ntprobe {

// Odd turns fail (a negative return): the probe's error rule "neg" counts them.
int Widget::spin(int turn) {
  turns_ += turn;
  return turn % 2 ? -turn : turn;
}

long Widget::spin(long turn) { return static_cast<long>(spin(static_cast<int>(turn))); }

}  // namespace ntprobe
