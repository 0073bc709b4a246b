// Tokens of the `tessera` language, the Python subset that dask.array users write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::cli {

enum class TokenKind : int8_t {
  kName,     ///< identifiers and keywords (the parser tells them apart)
  kInt,      ///< 10_000, 0x1f
  kFloat,    ///< 0.5, 1e3, .5
  kString,   ///< '...' or "..."; `value` holds the decoded text
  kOp,       ///< operators and punctuation, longest match ("**", "//", "...", "+=")
  kNewline,  ///< end of a logical line (never inside brackets)
  kEnd,      ///< end of input
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;   ///< the source text of the token
  std::string value;  ///< kString: the decoded string
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;    ///< 1-based
  int column = 1;  ///< 1-based, in bytes
};

/// Splits `source` into tokens, ending with kEnd. Newlines inside (), [] and {} and after a
/// backslash are joined as Python does; comments are dropped. Errors name the line and column:
/// "line 2, column 7: invalid character '$'".
absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source);

/// How an error message names a token: "')'", "'foo'", "end of line", "end of input".
std::string DescribeToken(const Token& token);

}  // namespace tessera::cli
