#include "bpf_runtime/libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>

namespace nt::bpf {
namespace {
int print_all(enum libbpf_print_level, const char* format, va_list args) {
  return std::vfprintf(stderr, format, args);
}
int print_nothing(enum libbpf_print_level, const char*, va_list) { return 0; }
}  // namespace

void route_libbpf_log(bool verbose) { libbpf_set_print(verbose ? print_all : print_nothing); }

}  // namespace nt::bpf
