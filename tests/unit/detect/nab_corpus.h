// The NAB corpus, loaded once per test binary (beside the repository, or NT_NAB_DIR).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "nab.h"

namespace nt::nab::testing {

inline std::string nab_dir() {
  const char* overridden = std::getenv("NT_NAB_DIR");
  return overridden ? overridden : NT_NAB_DEFAULT_DIR;
}

inline const Corpus& corpus() {
  static const Corpus loaded = [] {
    auto c = load_corpus(nab_dir());
    if (!c) {
      ADD_FAILURE() << c.error;
      return Corpus{};
    }
    return std::move(*c.value);
  }();
  return loaded;
}

}  // namespace nt::nab::testing
