// "Authorization: Bearer TOKEN", one check for both ports: gRPC's metadata and the HTTP API's header.
#pragma once

#include <string_view>

namespace nt::server {

enum class AuthVerdict { kOk, kMissing, kWrong };

// kOk when no token is required (an empty `token`) or the header carries it; kMissing for no header
// or another scheme (the scheme's case does not matter, blanks around the token neither); kWrong
// otherwise. The comparison takes the same time however much of a guess was right.
AuthVerdict check_bearer(std::string_view header, std::string_view token);

}  // namespace nt::server
