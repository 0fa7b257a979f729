#include "server/bearer.h"

#include <cctype>
#include <optional>

namespace nt::server {

namespace {

std::optional<std::string_view> presented_token(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() < kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

// Every byte of the expected token is looked at whatever was presented.
bool same_secret(std::string_view presented, std::string_view expected) {
  size_t difference = presented.size() ^ expected.size();
  for (size_t i = 0; i < expected.size(); ++i) {
    const char given = i < presented.size() ? presented[i] : '\0';
    difference |= static_cast<unsigned char>(given ^ expected[i]);
  }
  return difference == 0;
}

}  // namespace

AuthVerdict check_bearer(std::string_view header, std::string_view token) {
  if (token.empty()) return AuthVerdict::kOk;
  const auto presented = presented_token(header);
  if (!presented) return AuthVerdict::kMissing;
  return same_secret(*presented, token) ? AuthVerdict::kOk : AuthVerdict::kWrong;
}

}  // namespace nt::server
