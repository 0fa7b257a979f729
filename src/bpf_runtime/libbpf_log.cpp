#include "bpf_runtime/libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>

namespace nt::bpf {
namespace {
bool verbose_log = false;
std::string* capture_into = nullptr;

int print(enum libbpf_print_level, const char* format, va_list args) {
  if (capture_into) {
    // A verifier log comes as one message of any length.
    va_list measure, copy;
    va_copy(measure, args);
    int length = std::vsnprintf(nullptr, 0, format, measure);
    va_end(measure);
    if (length > 0) {
      std::string text(static_cast<size_t>(length) + 1, '\0');
      va_copy(copy, args);
      std::vsnprintf(text.data(), text.size(), format, copy);
      va_end(copy);
      text.pop_back();
      capture_into->append(text);
    }
  }
  return verbose_log ? std::vfprintf(stderr, format, args) : 0;
}
}  // namespace

void route_libbpf_log(bool verbose) {
  verbose_log = verbose;
  libbpf_set_print(print);
}

LibbpfLogCapture::LibbpfLogCapture(std::string& log) {
  capture_into = &log;
  libbpf_set_print(print);
}

LibbpfLogCapture::~LibbpfLogCapture() { capture_into = nullptr; }

}  // namespace nt::bpf
