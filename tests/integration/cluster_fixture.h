// A GoogleTest fixture with one real cluster (a `scheduler` and two `cpu-worker` processes) and a
// connected Client, shared by every test of a suite. CRTP: each suite gets its own cluster.
#pragma once

#include <gtest/gtest.h>

#include "subprocess.h"
#include "tessera/tessera.h"

namespace tessera::testing {

template <typename Suite>
class SharedClusterTest : public ::testing::Test {
 protected:
  // A cluster that did not start fails each test in SetUp. An assertion in SetUpTestSuite would
  // not: GoogleTest then reports the tests as skipped, and so does CTest.
  static void SetUpTestSuite() {
    cluster_ = new LocalProcessCluster(2, 1);
    if (cluster_->ok()) client_ = new Client(Client::connect(cluster_->address()));
  }
  void SetUp() override {
    ASSERT_TRUE(cluster_->ok()) << "the cluster did not start:\n"
                                << cluster_->scheduler().stderr_text();
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
    client_ = nullptr;
    cluster_ = nullptr;
  }
  static inline LocalProcessCluster* cluster_ = nullptr;
  static inline Client* client_ = nullptr;
};

}  // namespace tessera::testing
