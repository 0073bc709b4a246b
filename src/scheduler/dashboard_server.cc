#include "scheduler/dashboard_server.h"

#include <httplib.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "scheduler/status_page.h"

namespace tessera::scheduler {
namespace {

constexpr const char kJson[] = "application/json";
// At most this many events per task-stream response (the newest): a minute of a busy cluster.
constexpr size_t kMaxStreamEvents = 20'000;

}  // namespace

absl::StatusOr<std::unique_ptr<DashboardServer>> DashboardServer::Start(const std::string& host,
                                                                        int port,
                                                                        DashboardSource source) {
  auto server = std::unique_ptr<DashboardServer>(new DashboardServer());
  server->http_ = std::make_unique<httplib::Server>();
  httplib::Server& http = *server->http_;
  // Short keep-alive: an idle browser tab must not hold one of the few HTTP threads for long.
  http.set_keep_alive_timeout(2);
  http.set_read_timeout(5, 0);
  http.set_write_timeout(5, 0);
  auto src = std::make_shared<DashboardSource>(std::move(source));

  http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http.Get("/",
           [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/status"); });
  http.Get("/status", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(detail::kStatusPage, sizeof(detail::kStatusPage) - 1,
                    "text/html; charset=utf-8");
  });
  auto json_route = [&http, src](const char* path, nlohmann::json (*render)(const Snapshot&)) {
    http.Get(path, [src, render](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      res.set_content(Dump(render(*src->snapshot())), kJson);
    });
  };
  json_route("/api/v1/info", &InfoJson);
  json_route("/api/v1/workers", &WorkersJson);
  json_route("/api/v1/tasks", &TasksJson);
  json_route("/api/v1/scaling", &ScalingJson);
  http.Get("/api/v1/task-stream", [src](const httplib::Request& req, httplib::Response& res) {
    const double now = src->now();
    double since = now - 60;
    if (req.has_param("since")) {
      auto parsed = ParseSince(req.get_param_value("since"));
      if (!parsed.ok()) {
        res.status = 400;
        res.set_content(absl::StrCat("bad request: ", parsed.status().message(), "\n"),
                        "text/plain");
        return;
      }
      since = *parsed;
    }
    bool truncated = false;
    auto events = src->stream->Since(since, kMaxStreamEvents, &truncated);
    res.set_header("Cache-Control", "no-store");
    res.set_content(Dump(TaskStreamJson(events, since, now, truncated)), kJson);
  });
  http.Get("/metrics", [src](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderMetrics(*src->snapshot(), src->event_latency->Read()),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  // Unknown paths (and methods) get a short text body; handlers' own 4xx bodies are kept.
  http.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        res.set_content(res.status == 404 ? absl::StrCat("not found: ", req.path, "\n")
                                          : absl::StrCat("error ", res.status, "\n"),
                        "text/plain");
        return httplib::Server::HandlerResponse::Handled;
      }));

  int bound = port;
  if (port == 0) {
    bound = http.bind_to_any_port(host);
  } else if (!http.bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat("dashboard: could not listen on http://", host, ":",
                                               port, " (port in use or bad host?)"));
  }
  server->port_ = bound;
  server->thread_ = std::thread([&http] { http.listen_after_bind(); });
  // stop() is a no-op until the server runs: wait for it, so that Stop() always ends it.
  while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return server;
}

void DashboardServer::Stop() {
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

DashboardServer::~DashboardServer() { Stop(); }

}  // namespace tessera::scheduler
