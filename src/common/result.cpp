#include "common/result.h"

#include <cstring>

namespace nt {

Error errno_error(const std::string& what, int errno_value) {
  return Error{what + ": " + std::strerror(errno_value < 0 ? -errno_value : errno_value)};
}

}  // namespace nt
