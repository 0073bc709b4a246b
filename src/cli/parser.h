// The syntax tree of the `tessera` language and its parser (Python's grammar and precedence,
// restricted to expressions, assignments and imports).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::cli {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

/// One expression node. Which fields apply depends on `kind`.
struct Expr {
  enum class Kind : int8_t {
    kName,    ///< `name`
    kInt,     ///< `int_value`
    kFloat,   ///< `float_value`
    kString,  ///< `name` holds the text
    kBool,    ///< `bool_value`
    kNone,
    kEllipsis,   ///< `...`
    kTuple,      ///< `items`
    kList,       ///< `items`
    kUnary,      ///< `op` in {"-", "+", "~", "not"}, items[0]
    kBinary,     ///< `op` ("+", "**", "@", "and", "or", ...), items[0] op items[1]
    kCompare,    ///< items[0] ops[0] items[1] ops[1] items[2] ... (chained, as Python)
    kCall,       ///< items[0] is the callee, then positional arguments; `keywords`
    kAttribute,  ///< items[0].name
    kSubscript,  ///< items[0][items[1:]]; `subscript_tuple` when written with a comma
    kSlice,      ///< start:stop:step inside a subscript; items of 3, null where omitted
    kListComp,   ///< [items[0] for `name` in items[1] (if items[2])]; items[2] may be null
  };
  Kind kind = Kind::kNone;
  int line = 1;
  int column = 1;
  std::string name;
  std::string op;
  std::vector<std::string> ops;
  int64_t int_value = 0;
  double float_value = 0;
  bool bool_value = false;
  bool subscript_tuple = false;
  std::vector<ExprPtr> items;
  /// kCall: keyword arguments in the order written.
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  /// 1 + the largest height of `items` and `keywords`; at most kMaxExprHeight.
  int height = 1;
};

/// The parser refuses source nested deeper than these, as Python does ("too many nested
/// parentheses"), because the parser, the tree's destructor, DebugString and the interpreter all
/// recurse along it: brackets and unary operators nested in one another, and the height of an
/// expression's tree (`1 + 1 + ... + 1` is as tall as it is long).
inline constexpr int kMaxNesting = 200;
inline constexpr int kMaxExprHeight = 1000;

/// One statement.
struct Stmt {
  enum class Kind : int8_t {
    kExpr,       ///< `value`
    kAssign,     ///< targets = value (`a = b = value` has two targets)
    kAugAssign,  ///< targets[0] op= value
    kImport,     ///< `import dask.array as da`: module "dask.array", alias "da"
  };
  Kind kind = Kind::kExpr;
  int line = 1;
  int column = 1;
  std::vector<std::string> targets;
  std::string op;
  ExprPtr value;
  std::string module;
  std::string alias;
};

struct Program {
  std::vector<Stmt> statements;
};

/// Parses a whole program. Errors name the line, the column and the token:
/// "line 1, column 12: unexpected token ')'", or the limit: "line 1, column 401: expression
/// nested too deeply (more than 200 levels)".
absl::StatusOr<Program> Parse(std::string_view source);

/// A compact S-expression of `expr`, for tests and debugging: "(+ 1 (* 2 3))".
std::string DebugString(const Expr& expr);

}  // namespace tessera::cli
