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
  static void SetUpTestSuite() {
    cluster_ = new LocalProcessCluster(2, 1);
    ASSERT_TRUE(cluster_->ok()) << cluster_->scheduler().stderr_text();
    client_ = new Client(Client::connect(cluster_->address()));
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
