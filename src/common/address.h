// The one parser for network addresses, used by every binary and the client.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tessera {

/// A TCP endpoint. Accepted forms: "tcp://host:port", "host:port", "[v6]:port", "tcp://[v6]:port",
/// and, where `default_port` is given, the same without ":port".
struct Address {
  std::string host;  ///< Hostname or IP literal, without brackets.
  int port = 0;

  /// "host:port" / "[v6]:port", the form gRPC takes.
  std::string HostPort() const;
  /// "tcp://host:port", the form Tessera prints.
  std::string ToString() const;
  bool operator==(const Address&) const = default;
};

/// Parses `text`; errors name the text and what is wrong (missing port, port out of range, ...).
/// `default_port` < 0 means the port is required.
absl::StatusOr<Address> ParseAddress(std::string_view text, int default_port = -1);

/// Parses a dashboard address (`--dashboard-address`): "[HOST]:PORT", "PORT", "HOST:PORT",
/// "[v6]:PORT", optionally after "http://". The host is "" when not given (the caller picks
/// its default); port 0 means any free port.
absl::StatusOr<Address> ParseDashboardAddress(std::string_view text);

/// A non-loopback IPv4 address of this host for printing ("Scheduler at tcp://10.0.0.5:8786"),
/// or 127.0.0.1 when there is none.
std::string LocalIpForDisplay();

}  // namespace tessera
