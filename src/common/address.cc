#include "common/address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tessera {

std::string Address::HostPort() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

std::string Address::ToString() const { return absl::StrCat("tcp://", HostPort()); }

absl::StatusOr<Address> ParseAddress(std::string_view text_in, int default_port) {
  // Debian's Abseil has its own string_view type: work in it throughout.
  const absl::string_view text(text_in.data(), text_in.size());
  absl::string_view s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (const size_t scheme = s.find("://"); scheme != absl::string_view::npos) {
    if (s.substr(0, scheme) != "tcp") {
      return absl::InvalidArgumentError(absl::StrCat("unsupported protocol '", s.substr(0, scheme),
                                                     "' in address '", text, "' (use tcp://)"));
    }
    s.remove_prefix(scheme + 3);
  }
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  if (s.empty()) return absl::InvalidArgumentError(absl::StrCat("empty address '", text, "'"));
  Address out;
  absl::string_view port_text;
  if (s.front() == '[') {
    const size_t close = s.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("unclosed '[' in address '", text, "'"));
    }
    out.host = std::string(s.substr(1, close - 1));
    absl::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("expected ':port' after ']' in address '", text, "'"));
      }
      port_text = rest.substr(1);
    }
  } else {
    const size_t colon = s.rfind(':');
    if (colon != absl::string_view::npos && s.find(':') != colon) {
      return absl::InvalidArgumentError(absl::StrCat(
          "IPv6 address '", text, "' needs brackets, as in [", s, "]:8786"));
    }
    if (colon == absl::string_view::npos) {
      out.host = std::string(s);
    } else {
      out.host = std::string(s.substr(0, colon));
      port_text = s.substr(colon + 1);
      if (port_text.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("missing port after ':' in address '", text, "'"));
      }
    }
  }
  if (out.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("missing host in address '", text, "'"));
  }
  if (port_text.empty()) {
    if (default_port < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing port in address '", text, "' (expected host:port)"));
    }
    out.port = default_port;
    return out;
  }
  int port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid port '", port_text, "' in address '", text, "' (0 to 65535)"));
  }
  out.port = port;
  return out;
}

absl::StatusOr<Address> ParseDashboardAddress(std::string_view text_in) {
  std::string s(text_in);
  if (s.rfind("http://", 0) == 0) s.erase(0, 7);
  while (!s.empty() && s.back() == '/') s.pop_back();
  std::string port_only;
  if (!s.empty() && s.front() == ':') {
    port_only = s.substr(1);
  } else if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos) {
    port_only = s;
  }
  if (!port_only.empty() || s == ":") {
    int port = 0;
    if (!absl::SimpleAtoi(port_only, &port) || port < 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("invalid port '", port_only,
                                                     "' in dashboard address '",
                                                     std::string(text_in), "' (0 to 65535)"));
    }
    return Address{"", port};
  }
  return ParseAddress(s, 8787);
}

std::string LocalIpForDisplay() {
  std::string result = "127.0.0.1";
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return result;
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || it->ifa_addr->sa_family != AF_INET) continue;
    char buf[INET_ADDRSTRLEN];
    const auto* sin = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf) == nullptr) continue;
    if (std::string_view(buf).starts_with("127.")) continue;
    result = buf;
    break;
  }
  freeifaddrs(list);
  return result;
}

}  // namespace tessera
