#include "common/address.h"

#include <gtest/gtest.h>

namespace tessera {
namespace {

Address Parse(std::string_view text, int default_port = -1) {
  absl::StatusOr<Address> a = ParseAddress(text, default_port);
  EXPECT_TRUE(a.ok()) << text << ": " << a.status();
  return a.ok() ? *a : Address{};
}

void ExpectInvalid(std::string_view text, std::string_view fragment, int default_port = -1) {
  absl::StatusOr<Address> a = ParseAddress(text, default_port);
  ASSERT_FALSE(a.ok()) << text << " parsed as " << a->ToString();
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << text;
  EXPECT_NE(a.status().message().find(std::string(fragment)), std::string::npos)
      << text << ": " << a.status();
}

TEST(AddressTest, HostPortForms) {
  EXPECT_EQ(Parse("tcp://10.0.0.5:8786"), (Address{"10.0.0.5", 8786}));
  EXPECT_EQ(Parse("localhost:8786"), (Address{"localhost", 8786}));
  EXPECT_EQ(Parse("  scheduler.example.org:1  "), (Address{"scheduler.example.org", 1}));
  EXPECT_EQ(Parse("tcp://host:0"), (Address{"host", 0}));
  EXPECT_EQ(Parse("tcp://host:65535/"), (Address{"host", 65535}));
}

TEST(AddressTest, IPv6NeedsBrackets) {
  EXPECT_EQ(Parse("[::1]:8786"), (Address{"::1", 8786}));
  EXPECT_EQ(Parse("tcp://[::1]:8786"), (Address{"::1", 8786}));
  EXPECT_EQ(Parse("[fe80::1:2]:9000").host, "fe80::1:2");
  ExpectInvalid("::1:8786", "brackets");
  ExpectInvalid("fe80::1", "brackets", 8786);
  ExpectInvalid("[::1", "unclosed");
  ExpectInvalid("[::1]8786", "':port'");
}

TEST(AddressTest, DefaultPort) {
  EXPECT_EQ(Parse("tcp://scheduler", 8786), (Address{"scheduler", 8786}));
  EXPECT_EQ(Parse("[::1]", 8786), (Address{"::1", 8786}));
  EXPECT_EQ(Parse("host:9000", 8786), (Address{"host", 9000}));  // an explicit port wins
}

TEST(AddressTest, MissingOrBadPort) {
  ExpectInvalid("scheduler", "missing port");
  ExpectInvalid("tcp://[::1]", "missing port");
  ExpectInvalid("host:", "missing port");
  ExpectInvalid("host:65536", "invalid port");
  ExpectInvalid("host:-1", "invalid port");
  ExpectInvalid("host:80x", "invalid port");
  ExpectInvalid(":8786", "missing host");
  ExpectInvalid("", "empty");
}

TEST(AddressTest, UnsupportedScheme) {
  ExpectInvalid("http://host:80", "unsupported protocol 'http'");
  ExpectInvalid("udp://[::1]:8786", "unsupported protocol");
}

TEST(AddressTest, Printing) {
  const Address v4{"10.0.0.5", 8786}, v6{"::1", 8786};
  EXPECT_EQ(v4.HostPort(), "10.0.0.5:8786");
  EXPECT_EQ(v4.ToString(), "tcp://10.0.0.5:8786");
  EXPECT_EQ(v6.HostPort(), "[::1]:8786");
  EXPECT_EQ(v6.ToString(), "tcp://[::1]:8786");
  // Printing and parsing round-trip.
  EXPECT_EQ(Parse(v6.ToString()), v6);
  EXPECT_EQ(Parse(v4.HostPort()), v4);
  EXPECT_FALSE(LocalIpForDisplay().empty());
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

TEST(ParseDashboardAddress, AcceptsDasksForms) {
  EXPECT_EQ(*ParseDashboardAddress(":8787"), (Address{"", 8787}));
  EXPECT_EQ(*ParseDashboardAddress("8787"), (Address{"", 8787}));
  EXPECT_EQ(*ParseDashboardAddress(":0"), (Address{"", 0}));
  EXPECT_EQ(*ParseDashboardAddress("127.0.0.1:0"), (Address{"127.0.0.1", 0}));
  EXPECT_EQ(*ParseDashboardAddress("http://localhost:9000/"), (Address{"localhost", 9000}));
  EXPECT_EQ(*ParseDashboardAddress("[::1]:9000"), (Address{"::1", 9000}));
  EXPECT_EQ(*ParseDashboardAddress("example.org"), (Address{"example.org", 8787}));
}

TEST(ParseDashboardAddress, RejectsBadPorts) {
  for (const char* bad : {":", ":99999", ":abc", "host:", "host:-1", ""}) {
    EXPECT_FALSE(ParseDashboardAddress(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace tessera
