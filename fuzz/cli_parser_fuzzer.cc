// libFuzzer target: bytes as a `tessera` program through the CLI's lexer and parser (what
// `tessera eval` and `tessera run` do before the interpreter). The interpreter is left out on
// purpose: it builds arrays, computes and prints, which a fuzzer must not do against a cluster.
// Every input must end in a Status, never a crash, a leak or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cli/lexer.h"
#include "cli/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  auto tokens = tessera::cli::Tokenize(source);
  if (tokens.ok()) {
    for (const auto& t : *tokens) (void)tessera::cli::DescribeToken(t);
  }
  auto program = tessera::cli::Parse(source);
  if (program.ok()) {
    for (const auto& s : program->statements) {
      if (s.value != nullptr) (void)tessera::cli::DebugString(*s.value);
    }
  }
  return 0;
}
