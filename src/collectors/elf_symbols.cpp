#include "collectors/elf_symbols.h"

#include <cxxabi.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <array>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "common/unique_fd.h"

namespace nt::collectors {
namespace {

// An open ELF file, closed with its descriptor.
class ElfFile {
 public:
  static Result<ElfFile> open(const std::string& path) {
    elf_version(EV_CURRENT);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return errno_error(path, errno);
    Elf* elf = elf_begin(fd.get(), ELF_C_READ, nullptr);
    if (!elf || elf_kind(elf) != ELF_K_ELF) {
      if (elf) elf_end(elf);
      return Error{path + ": not an ELF file"};
    }
    return ElfFile(std::move(fd), elf);
  }
  ElfFile(ElfFile&& other) noexcept : fd_(std::move(other.fd_)), elf_(std::exchange(other.elf_, nullptr)) {}
  ~ElfFile() {
    if (elf_) elf_end(elf_);
  }
  Elf* get() const { return elf_; }

 private:
  ElfFile(UniqueFd fd, Elf* elf) : fd_(std::move(fd)), elf_(elf) {}
  UniqueFd fd_;
  Elf* elf_;
};

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(abi::__cxa_demangle(name, nullptr, nullptr, &status), &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string real_path(const std::string& path) {
  char resolved[PATH_MAX];
  return realpath(path.c_str(), resolved) ? std::string(resolved) : path;
}

// Libraries the loader's cache knows, as `ldconfig -p` lists them: "libc.so.6 (libc6,x86-64) => /lib/...".
std::vector<std::string> loader_cache() {
  std::vector<std::string> paths;
  for (const char* ldconfig : {"/sbin/ldconfig", "/usr/sbin/ldconfig"}) {
    if (access(ldconfig, X_OK) != 0) continue;
    std::unique_ptr<FILE, decltype(&pclose)> out(popen((std::string(ldconfig) + " -p 2>/dev/null").c_str(), "r"),
                                                 &pclose);
    if (!out) break;
    std::array<char, 4096> line{};
    while (fgets(line.data(), line.size(), out.get())) {
      const char* arrow = std::strstr(line.data(), "=> ");
      if (!arrow) continue;
      std::string path(arrow + 3);
      while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
      paths.push_back(path);
    }
    break;
  }
  return paths;
}

}  // namespace

Result<std::vector<ElfFunction>> defined_functions(const std::string& path) {
  auto file = ElfFile::open(path);
  if (!file) return file.error();
  Elf* elf = file.value().get();
  std::vector<ElfFunction> functions;
  std::set<std::pair<std::string, uint64_t>> seen;
  for (Elf_Scn* section = elf_nextscn(elf, nullptr); section; section = elf_nextscn(elf, section)) {
    GElf_Shdr header;
    if (!gelf_getshdr(section, &header) || (header.sh_type != SHT_DYNSYM && header.sh_type != SHT_SYMTAB)) continue;
    Elf_Data* data = elf_getdata(section, nullptr);
    const size_t count = header.sh_entsize ? header.sh_size / header.sh_entsize : 0;
    for (size_t i = 0; data && i < count; ++i) {
      GElf_Sym symbol;
      if (!gelf_getsym(data, static_cast<int>(i), &symbol) || GELF_ST_TYPE(symbol.st_info) != STT_FUNC ||
          symbol.st_shndx == SHN_UNDEF || symbol.st_value == 0)
        continue;
      const char* name = elf_strptr(elf, header.sh_link, symbol.st_name);
      if (!name || !*name || !seen.emplace(name, symbol.st_value).second) continue;
      functions.push_back({name, demangle(name), symbol.st_value});
    }
  }
  return functions;
}

Result<uint64_t> file_offset(const std::string& path, uint64_t address) {
  auto file = ElfFile::open(path);
  if (!file) return file.error();
  size_t count = 0;
  if (elf_getphdrnum(file.value().get(), &count) != 0) return Error{path + ": no program headers"};
  for (size_t i = 0; i < count; ++i) {
    GElf_Phdr segment;
    if (!gelf_getphdr(file.value().get(), static_cast<int>(i), &segment) || segment.p_type != PT_LOAD) continue;
    if (address >= segment.p_vaddr && address < segment.p_vaddr + segment.p_memsz)
      return address - segment.p_vaddr + segment.p_offset;
  }
  return Error{path + ": no loadable segment holds address 0x" + [&] {
    char hex[32];
    std::snprintf(hex, sizeof(hex), "%llx", static_cast<unsigned long long>(address));
    return std::string(hex);
  }()};
}

Result<std::vector<UsdtNote>> usdt_notes(const std::string& path) {
  auto file = ElfFile::open(path);
  if (!file) return file.error();
  Elf* elf = file.value().get();
  size_t names_index = 0;
  if (elf_getshdrstrndx(elf, &names_index) != 0) return Error{path + ": no section names"};
  // A prelinked or moved file says where .stapsdt.base is now; the notes say where it was.
  std::optional<uint64_t> base_now;
  std::vector<Elf_Scn*> note_sections;
  for (Elf_Scn* section = elf_nextscn(elf, nullptr); section; section = elf_nextscn(elf, section)) {
    GElf_Shdr header;
    if (!gelf_getshdr(section, &header)) continue;
    const char* name = elf_strptr(elf, names_index, header.sh_name);
    if (!name) continue;
    if (std::strcmp(name, ".stapsdt.base") == 0) base_now = header.sh_addr;
    if (header.sh_type == SHT_NOTE && std::strcmp(name, ".note.stapsdt") == 0) note_sections.push_back(section);
  }
  std::vector<UsdtNote> notes;
  for (Elf_Scn* section : note_sections) {
    Elf_Data* data = elf_getdata(section, nullptr);
    GElf_Nhdr note;
    size_t offset = 0, name_at = 0, desc_at = 0;
    while (data && (offset = gelf_getnote(data, offset, &note, &name_at, &desc_at)) > 0) {
      if (note.n_type != 3 || note.n_descsz < 3 * 8 + 2) continue;
      const char* desc = static_cast<const char*>(data->d_buf) + desc_at;
      uint64_t words[3];
      std::memcpy(words, desc, sizeof(words));
      const char* strings = desc + sizeof(words);
      const char* end = desc + note.n_descsz;
      UsdtNote usdt;
      usdt.provider.assign(strings, strnlen(strings, end - strings));
      const char* probe = strings + usdt.provider.size() + 1;
      if (probe >= end) continue;
      usdt.name.assign(probe, strnlen(probe, end - probe));
      const uint64_t shift = base_now ? *base_now - words[1] : 0;
      usdt.address = words[0] + shift;
      usdt.semaphore = words[2] ? words[2] + shift : 0;
      notes.push_back(std::move(usdt));
    }
  }
  return notes;
}

bool symbol_matches(const std::string& pattern, const ElfFunction& function) {
  if (pattern == function.name || pattern == function.demangled) return true;
  return function.demangled.size() > pattern.size() && function.demangled.compare(0, pattern.size(), pattern) == 0 &&
         function.demangled[pattern.size()] == '(';
}

bool library_name_matches(const std::string& name, const std::string& file_base_name) {
  const std::string stem = name.rfind("lib", 0) == 0 ? name : "lib" + name;
  if (file_base_name == name || file_base_name == stem) return true;
  // "libc" or "libc.so": libc.so.6, libc.so.6.1 (not libcap.so nor libc-client.so)
  const std::string prefix = stem.size() > 3 && stem.compare(stem.size() - 3, 3, ".so") == 0 ? stem : stem + ".so";
  return file_base_name.compare(0, prefix.size(), prefix) == 0 &&
         (file_base_name.size() == prefix.size() || file_base_name[prefix.size()] == '.');
}

std::vector<std::string> mapped_files(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::set<std::string> seen;
  std::vector<std::string> files;
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find(" /");
    if (slash == std::string::npos || line.find(" (deleted)") != std::string::npos) continue;
    std::string path = line.substr(slash + 1);
    // A process in another mount namespace names its files in that namespace: reach them through it.
    std::string reachable = "/proc/" + std::to_string(pid) + "/root" + path;
    if (seen.insert(path).second) files.push_back(real_path(access(path.c_str(), F_OK) == 0 ? path : reachable));
  }
  return files;
}

Result<std::string> find_library(const std::string& library, const std::vector<pid_t>& pids) {
  if (library.find('/') != std::string::npos) {
    if (access(library.c_str(), R_OK) != 0) return errno_error(library, errno);
    return real_path(library);
  }
  for (pid_t pid : pids)
    for (const auto& path : mapped_files(pid))
      if (library_name_matches(library, base_name(path))) return path;
  for (const auto& path : loader_cache())
    if (library_name_matches(library, base_name(path))) return real_path(path);
  std::string where = pids.empty() ? "" : " mapped by the traced processes or";
  return Error{"no library named '" + library + "'" + where + " in the loader's cache (ldconfig -p); give its path"};
}

}  // namespace nt::collectors
