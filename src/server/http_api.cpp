#include "server/http_api.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <optional>
#include <string_view>

#include "server/query.h"

namespace nt::server {
namespace {

// A request is a GET of a few hundred bytes: anything with a body is refused before it is read.
// (The request line and each header line are capped at 8 KiB by the library itself.)
constexpr size_t kMaxPayloadBytes = 4096;
constexpr time_t kReadTimeoutS = 5;
constexpr time_t kWriteTimeoutS = 10;  // an answer of a thousand rows to a slow client
constexpr time_t kKeepAliveTimeoutS = 5;
constexpr size_t kKeepAliveMaxRequests = 100;

struct Endpoint {
  std::string host;
  int port = 0;
};

Result<Endpoint> parse_listen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  Endpoint endpoint;
  if (colon != std::string::npos) endpoint.host = listen.substr(0, colon);
  if (endpoint.host.size() > 2 && endpoint.host.front() == '[' && endpoint.host.back() == ']')
    endpoint.host = endpoint.host.substr(1, endpoint.host.size() - 2);
  const std::string port = colon == std::string::npos ? std::string() : listen.substr(colon + 1);
  if (endpoint.host.empty() || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535)
    return Error{"HTTP API: not HOST:PORT: " + listen};
  endpoint.port = std::stoi(port);
  return endpoint;
}

// Every byte of the expected token is looked at whatever was presented, so the time a refusal takes
// says nothing about how much of a guess was right.
bool same_secret(std::string_view presented, std::string_view expected) {
  size_t difference = presented.size() ^ expected.size();
  for (size_t i = 0; i < expected.size(); ++i) {
    const char given = i < presented.size() ? presented[i] : '\0';
    difference |= static_cast<unsigned char>(given ^ expected[i]);
  }
  return difference == 0;
}

// The token of an "Authorization: Bearer TOKEN" header; none for a missing header or another scheme.
std::optional<std::string_view> bearer_token(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() < kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

std::string error_body(std::string_view message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What every handler shares; handlers run on the library's worker threads.
struct Handlers {
  const Store& store;
  HttpHooks hooks;
  std::string token;

  double now() const {
    if (hooks.now) return hooks.now();
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }

  void refuse(httplib::Response& res, int status, std::string_view reason, std::string_view message) const {
    if (hooks.rejected) hooks.rejected(reason);
    res.status = status;
    res.set_content(error_body(message), "application/json");
  }

  httplib::Server::HandlerResponse authenticate(const httplib::Request& req, httplib::Response& res) const {
    if (token.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string header = req.get_header_value("Authorization");  // owns what the view below points into
    const auto presented = bearer_token(header);
    if (!presented) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"neutracer\"");
      refuse(res, 401, "unauthenticated", "this server wants Authorization: Bearer TOKEN");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!same_secret(*presented, token)) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"neutracer\", error=\"invalid_token\"");
      refuse(res, 403, "wrong_token", "the bearer token is not this server's");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  void api(const httplib::Request& req, httplib::Response& res) const {
    auto query = parse_query(req.path, req.params, now());
    if (!query) {
      if (query_kind(req.path))
        refuse(res, 400, "bad_query", query.error().message);
      else
        refuse(res, 404, "not_found", query.error().message);
      return;
    }
    auto answer = store.answer(*query);
    if (!answer) {
      res.status = 500;
      res.set_content(error_body(answer.error().message), "application/json");
      return;
    }
    res.set_content(answer->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
  }
};

void route(httplib::Server& server, std::shared_ptr<const Handlers> handlers) {
  server.set_pre_routing_handler(
      [handlers](const httplib::Request& req, httplib::Response& res) { return handlers->authenticate(req, res); });
  server.Get("/api/v1/.*", [handlers](const httplib::Request& req, httplib::Response& res) { handlers->api(req, res); });
  server.Get("/metrics", [handlers](const httplib::Request&, httplib::Response& res) {
    res.set_content(handlers->hooks.metrics_text ? handlers->hooks.metrics_text() : std::string(),
                    "text/plain; version=0.0.4");
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  // Routes are tried in the order they were added: this one takes what the ones above did not.
  server.Get(".*", [handlers](const httplib::Request&, httplib::Response& res) {
    handlers->refuse(res, 404, "not_found", "not found");
  });
  const auto not_allowed = [handlers](const httplib::Request&, httplib::Response& res) {
    res.set_header("Allow", "GET, HEAD");
    handlers->refuse(res, 405, "method_not_allowed", "only GET is served");
  };
  // What the library refuses itself before any route runs (a request it cannot parse, one over its
  // size limits) comes here with no body; ours all have one and were counted already.
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [handlers](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const char* reason = res.status == 400   ? "malformed_request"
                         : res.status == 413 ? "oversize_request"
                         : res.status == 414 ? "oversize_uri"
                                             : "refused_request";
    handlers->refuse(res, res.status, reason, reason);
    return httplib::Server::HandlerResponse::Handled;
  }));
  server.Post(".*", not_allowed);
  server.Put(".*", not_allowed);
  server.Patch(".*", not_allowed);
  server.Delete(".*", not_allowed);
  server.Options(".*", not_allowed);
}

}  // namespace

Result<std::unique_ptr<HttpApi>> HttpApi::start(const HttpOptions& options, const Store& store, HttpHooks hooks) {
  auto endpoint = parse_listen(options.listen);
  if (!endpoint) return endpoint.error();
  if (options.tls_cert.empty() != options.tls_key.empty())
    return Error{"HTTP API: TLS needs both a certificate and its key"};

  std::unique_ptr<HttpApi> api(new HttpApi());
  if (!options.tls_cert.empty()) {
    auto tls = std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
    if (!tls->is_valid())
      return Error{"HTTP API: cannot load the TLS certificate " + options.tls_cert + " with the key " + options.tls_key};
    api->server_ = std::move(tls);
  } else {
    api->server_ = std::make_unique<httplib::Server>();
  }
  httplib::Server& server = *api->server_;
  server.set_payload_max_length(kMaxPayloadBytes);
  server.set_read_timeout(kReadTimeoutS);
  server.set_write_timeout(kWriteTimeoutS);
  server.set_keep_alive_timeout(kKeepAliveTimeoutS);
  server.set_keep_alive_max_count(kKeepAliveMaxRequests);
  // The library's default adds SO_REUSEPORT, with which a second server on the same port would
  // share its connections instead of failing to start.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  route(server, std::make_shared<const Handlers>(Handlers{store, std::move(hooks), options.token}));

  errno = 0;
  api->host_ = endpoint->host;
  api->port_ = endpoint->port == 0 ? server.bind_to_any_port(endpoint->host)
                                   : (server.bind_to_port(endpoint->host, endpoint->port) ? endpoint->port : -1);
  if (api->port_ <= 0) {
    const std::string what = "HTTP API: cannot listen on " + options.listen;
    return errno ? errno_error(what, errno) : Error{what};
  }
  api->thread_ = std::thread([api = api.get()] {
    api->server_->listen_after_bind();
    api->serving_ended_ = true;
  });
  // Until the loop runs, stop() would not reach it (the library stops only a running server), so
  // the API is handed out once it runs.
  while (!server.is_running() && !api->serving_ended_) std::this_thread::yield();
  if (!server.is_running()) return Error{"HTTP API: the server on " + api->address() + " stopped as it started"};
  return api;
}

HttpApi::~HttpApi() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string HttpApi::address() const {
  const bool v6 = host_.find(':') != std::string::npos;
  return (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

}  // namespace nt::server
