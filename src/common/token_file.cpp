#include "common/token_file.h"

#include <fstream>

namespace nt {

Result<std::string> read_token_file(const std::string& path) {
  std::ifstream file(path);
  std::string line;
  if (!file || !std::getline(file, line)) return Error{"cannot read " + path};
  auto first = line.find_first_not_of(" \t\r");
  auto last = line.find_last_not_of(" \t\r");
  if (first == std::string::npos) return Error{path + " holds no token"};
  return line.substr(first, last - first + 1);
}

}  // namespace nt
