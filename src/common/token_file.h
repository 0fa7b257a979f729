#pragma once

#include <string>

#include "common/result.h"

namespace nt {

// A bearer token kept in a file: its first line without surrounding blanks; never empty.
Result<std::string> read_token_file(const std::string& path);

}  // namespace nt
