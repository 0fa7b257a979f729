#include "server/http_api.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string_view>

#include "server/bearer.h"
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

// On every answer. The dashboard runs only its own files' scripts and styles, and talks only to
// this server: text from the data that slipped into markup could still not run. The API's JSON is
// never a document, so the same policy costs it nothing.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'";
// The dashboard is a few hundred kilobytes; anything far larger under the web root is not its.
constexpr std::uintmax_t kMaxFileBytes = 16u << 20;

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

// What only a holder of the token may read: the data and the server's state. The rest of the paths
// are the dashboard's files.
bool wants_token(std::string_view path) {
  return path.starts_with("/api/") || path == "/metrics" || path == "/healthz";
}

// The dashboard file a (decoded) request path names, relative to the web root: "/" is index.html;
// otherwise names of [A-Za-z0-9._-] joined by "/", none starting with a dot, so that no request
// reaches above the root or into hidden files.
std::optional<std::string> dashboard_file(std::string_view path) {
  if (path == "/") return "index.html";
  if (path.size() < 2 || path.front() != '/' || path.back() == '/') return std::nullopt;
  path.remove_prefix(1);
  bool segment_start = true;
  for (char c : path) {
    const bool plain = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    if (c == '/') {
      if (segment_start) return std::nullopt;  // "//"
    } else if (!plain || (segment_start && c == '.')) {
      return std::nullopt;
    }
    segment_start = c == '/';
  }
  return std::string(path);
}

const char* content_type(std::string_view name) {
  static constexpr std::pair<std::string_view, const char*> kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
      {".png", "image/png"},                 {".json", "application/json"},
      {".woff2", "font/woff2"},              {".txt", "text/plain; charset=utf-8"}};
  for (auto [suffix, type] : kTypes)
    if (name.ends_with(suffix)) return type;
  return "application/octet-stream";
}

// The library compresses with brotli whenever a client offers it, and at brotli's slowest setting:
// an answer of a thousand processes (1 MB of JSON) then costs a quarter of a second of CPU, against
// a few milliseconds with gzip for twice the bytes. Browsers offer both; they are given gzip. The
// request is the library's own (mutable) object, handed to the pre-routing handler as const.
void withdraw_brotli(const httplib::Request& req) {
  auto& headers = const_cast<httplib::Headers&>(req.headers);
  for (auto [it, end] = headers.equal_range("Accept-Encoding"); it != end; ++it) {
    std::string kept;
    for (size_t start = 0; start <= it->second.size();) {
      size_t comma = it->second.find(',', start);
      if (comma == std::string::npos) comma = it->second.size();
      std::string token = it->second.substr(start, comma - start);
      start = comma + 1;
      const size_t first = token.find_first_not_of(' ');
      if (first == std::string::npos || token.compare(first, 2, "br") == 0) continue;
      kept += (kept.empty() ? "" : ",") + token;
    }
    it->second = kept;
  }
}

std::string error_body(std::string_view message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What every handler shares; handlers run on the library's worker threads.
struct Handlers {
  const Store& store;
  HttpHooks hooks;
  std::string token;
  std::filesystem::path web_root;

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
    if (token.empty() || !wants_token(req.path)) return httplib::Server::HandlerResponse::Unhandled;
    const auto verdict = check_bearer(req.get_header_value("Authorization"), token);
    if (verdict == AuthVerdict::kMissing) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"neutracer\"");
      refuse(res, 401, "unauthenticated", "this server wants Authorization: Bearer TOKEN");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (verdict == AuthVerdict::kWrong) {
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

  // The dashboard's files, read at each request: a rebuilt dashboard is served without a restart.
  void file(const httplib::Request& req, httplib::Response& res) const {
    const auto name = dashboard_file(req.path);
    std::error_code error;
    const std::filesystem::path path = web_root / name.value_or("");
    if (!name || web_root.empty() || !std::filesystem::is_regular_file(path, error) ||
        std::filesystem::file_size(path, error) > kMaxFileBytes) {
      refuse(res, 404, "not_found", "not found");
      if (name == "index.html")  // someone opened the dashboard: say why it is not there
        res.set_content("The dashboard is not built: run scripts/setup.sh (or `npm ci && npm run build` in web/), "
                        "or point --web-root at its files. The API is under /api/v1/.\n",
                        "text/plain; charset=utf-8");
      return;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      res.status = 500;
      res.set_content(error_body("cannot read " + *name), "application/json");
      return;
    }
    std::string body{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    // Vite names its assets by their content: a name never changes meaning. index.html names the
    // current ones, so it is asked for again each time.
    res.set_header("Cache-Control", name->starts_with("assets/") ? "max-age=31536000, immutable" : "no-cache");
    res.set_content(std::move(body), content_type(*name));
  }
};

void route(httplib::Server& server, std::shared_ptr<const Handlers> handlers) {
  server.set_pre_routing_handler([handlers](const httplib::Request& req, httplib::Response& res) {
    withdraw_brotli(req);
    return handlers->authenticate(req, res);
  });
  server.Get("/api/v1/.*", [handlers](const httplib::Request& req, httplib::Response& res) { handlers->api(req, res); });
  server.Get("/metrics", [handlers](const httplib::Request&, httplib::Response& res) {
    res.set_content(handlers->hooks.metrics_text ? handlers->hooks.metrics_text() : std::string(),
                    "text/plain; version=0.0.4");
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  // Routes are tried in the order they were added: this one takes what the ones above did not.
  server.Get(".*", [handlers](const httplib::Request& req, httplib::Response& res) { handlers->file(req, res); });
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
  server.set_default_headers({{"Content-Security-Policy", kContentSecurityPolicy}, {"X-Content-Type-Options", "nosniff"}});
  // The library's default adds SO_REUSEPORT, with which a second server on the same port would
  // share its connections instead of failing to start.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  route(server, std::make_shared<const Handlers>(Handlers{store, std::move(hooks), options.token, options.web_root}));

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
