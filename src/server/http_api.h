// The server's HTTP API: the store's answers as JSON under /api/v1/, the server's own metrics at
// /metrics, /healthz, and the dashboard's files at every other path. GET only; with a token, the
// API, /metrics and /healthz want `Authorization: Bearer TOKEN`. The dashboard's files hold no data
// and are served to anyone: a browser cannot add the header to a navigation, so the page asks for
// the token and sends it with each API call.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/result.h"
#include "server/store.h"

namespace httplib {
class Server;
}

namespace nt::server {

struct HttpOptions {
  std::string listen = "127.0.0.1:0";  // HOST:PORT ([V6]:PORT); port 0 picks a free one
  std::string token;                   // empty: no authentication
  std::string tls_cert, tls_key;       // PEM files; both or neither
  std::string web_root;                // the dashboard's built files (web/dist); without index.html,
                                       // "/" says the dashboard is not built
};

// What the API asks of the rest of the server. Called from the API's threads, several at once.
struct HttpHooks {
  std::function<std::string()> metrics_text;                 // Prometheus text exposition
  std::function<void(std::string_view reason)> rejected;     // unauthenticated, wrong_token, bad_query, ...
  std::function<double()> now;                               // unix seconds; empty: the system clock
};

class HttpApi {
 public:
  // Listening when it returns (connections queue until the serving thread accepts them). `store`
  // must outlive the API.
  static Result<std::unique_ptr<HttpApi>> start(const HttpOptions& options, const Store& store, HttpHooks hooks);
  ~HttpApi();  // stops serving and waits for the serving thread
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  std::string address() const;  // the bound HOST:PORT

 private:
  HttpApi() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> serving_ended_{false};  // the serving thread's loop returned
  std::string host_;
  int port_ = 0;
};

}  // namespace nt::server
