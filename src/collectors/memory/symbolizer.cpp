#include "collectors/memory/symbolizer.h"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace nt::collectors {
namespace {

const Dwfl_Callbacks kProcessCallbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = nullptr,
    .debuginfo_path = nullptr,
};

std::string demangled(const char* name) {
  int status = 0;
  char* plain = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || !plain) return name;
  std::string out(plain);
  std::free(plain);
  return out;
}

std::string hex(uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace

struct Symbolizer::Process {
  explicit Process(pid_t tgid) : tgid(tgid) { report(); }
  ~Process() {
    if (dwfl) dwfl_end(dwfl);
  }

  // (Re)reads the process's mappings: at first sight, and when an address falls outside all of them
  // (a library loaded since).
  void report() {
    if (dwfl) dwfl_end(dwfl);
    dwfl = dwfl_begin(&kProcessCallbacks);
    if (!dwfl) return;
    dwfl_report_begin(dwfl);
    const bool read = dwfl_linux_proc_report(dwfl, tgid) == 0;
    dwfl_report_end(dwfl, nullptr, nullptr);
    if (!read) {
      dwfl_end(dwfl);
      dwfl = nullptr;
    }
  }

  model::HeapFrame frame(uint64_t address) {
    if (auto known = names.find(address); known != names.end()) return known->second;
    model::HeapFrame frame{address, "", "", ""};
    Dwfl_Module* module = dwfl ? dwfl_addrmodule(dwfl, address) : nullptr;
    if (!module && dwfl && !rereported) {
      rereported = true;
      report();
      module = dwfl ? dwfl_addrmodule(dwfl, address) : nullptr;
    }
    if (!module) return frame;  // not cached: the mapping may appear later
    if (const char* name = dwfl_module_info(module, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr))
      frame.module = name;
    // A return address is just past its call, which may be a function's last instruction: the call
    // itself (address - 1) says where it was made.
    const uint64_t call = address - 1;
    GElf_Off offset = 0;
    GElf_Sym symbol;
    if (const char* name = dwfl_module_addrinfo(module, call, &offset, &symbol, nullptr, nullptr, nullptr))
      frame.symbol = demangled(name) + "+" + hex(offset + 1);
    if (Dwfl_Line* line = dwfl_module_getsrc(module, call)) {
      int number = 0;
      if (const char* file = dwfl_lineinfo(line, nullptr, &number, nullptr, nullptr, nullptr))
        frame.source = std::string(file) + ":" + std::to_string(number);
    }
    names.emplace(address, frame);
    return frame;
  }

  // The function at `address` (an entry point, not a return address): its demangled name, "" when none.
  std::string function_at(uint64_t address) {
    Dwfl_Module* module = dwfl ? dwfl_addrmodule(dwfl, address) : nullptr;
    if (!module && dwfl && !rereported) {
      rereported = true;
      report();
      module = dwfl ? dwfl_addrmodule(dwfl, address) : nullptr;
    }
    GElf_Off offset = 0;
    GElf_Sym symbol;
    const char* name = module ? dwfl_module_addrinfo(module, address, &offset, &symbol, nullptr, nullptr, nullptr) : nullptr;
    return name ? demangled(name) + (offset ? "+" + hex(offset) : "") : "";
  }

  pid_t tgid;
  Dwfl* dwfl = nullptr;
  bool rereported = false;  // once per frames() call
  std::map<uint64_t, model::HeapFrame> names;
};

Symbolizer::Symbolizer() = default;
Symbolizer::~Symbolizer() = default;

std::vector<model::HeapFrame> Symbolizer::frames(pid_t tgid, const std::vector<uint64_t>& return_addresses) {
  auto& process = processes_[tgid];
  if (!process) process = std::make_unique<Process>(tgid);
  process->rereported = false;
  std::vector<model::HeapFrame> out;
  out.reserve(return_addresses.size());
  for (uint64_t address : return_addresses) out.push_back(process->frame(address));
  return out;
}

std::string Symbolizer::function_name(pid_t tgid, uint64_t address) {
  auto& process = processes_[tgid];
  if (!process) process = std::make_unique<Process>(tgid);
  process->rereported = false;
  return process->function_at(address);
}

void Symbolizer::forget(pid_t tgid) { processes_.erase(tgid); }

}  // namespace nt::collectors
