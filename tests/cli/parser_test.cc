#include "cli/parser.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tessera::cli {
namespace {

// The S-expression of the single expression statement in `src`.
std::string P(std::string_view src) {
  auto program = Parse(src);
  EXPECT_TRUE(program.ok()) << program.status();
  if (!program.ok()) return "";
  EXPECT_EQ(program->statements.size(), 1u);
  EXPECT_EQ(program->statements[0].kind, Stmt::Kind::kExpr);
  return DebugString(*program->statements[0].value);
}

std::string Error(std::string_view src) {
  auto program = Parse(src);
  EXPECT_FALSE(program.ok()) << src;
  return program.ok() ? "" : std::string(program.status().message());
}

TEST(ParserTest, ArithmeticPrecedence) {
  EXPECT_EQ(P("1 + 2 * 3"), "(+ 1 (* 2 3))");
  EXPECT_EQ(P("(1 + 2) * 3"), "(* (+ 1 2) 3)");
  EXPECT_EQ(P("1 - 2 - 3"), "(- (- 1 2) 3)");
  EXPECT_EQ(P("a / b // c % d @ e"), "(@ (% (// (/ a b) c) d) e)");
}

TEST(ParserTest, PowerIsRightAssociativeAndBindsTighterThanUnaryMinus) {
  EXPECT_EQ(P("2 ** 3 ** 2"), "(** 2 (** 3 2))");
  EXPECT_EQ(P("-x ** 2"), "(neg (** x 2))");
  EXPECT_EQ(P("2 ** -1"), "(** 2 (neg 1))");
  EXPECT_EQ(P("-a * b"), "(* (neg a) b)");
}

TEST(ParserTest, ComparisonsAndBooleanOperators) {
  EXPECT_EQ(P("a < b + 1"), "(compare a < (+ b 1))");
  EXPECT_EQ(P("0 <= x < 1"), "(compare 0 <= x < 1)");
  EXPECT_EQ(P("a is not None"), "(compare a is not None)");
  EXPECT_EQ(P("not a == b and c or d"), "(or (and (not (compare a == b)) c) d)");
  EXPECT_EQ(P("a | b ^ c & d << 1"), "(| a (^ b (& c (<< d 1))))");
}

TEST(ParserTest, TuplesVersusParentheses) {
  EXPECT_EQ(P("(1)"), "1");
  EXPECT_EQ(P("(1,)"), "(tuple 1)");
  EXPECT_EQ(P("()"), "(tuple)");
  EXPECT_EQ(P("(50000, 50000)"), "(tuple 50000 50000)");
  EXPECT_EQ(P("1, 2"), "(tuple 1 2)");
  EXPECT_EQ(P("[1, 2,]"), "(list 1 2)");
  EXPECT_EQ(P("((1, 2), (3,))"), "(tuple (tuple 1 2) (tuple 3))");
}

TEST(ParserTest, MatmulListsAndBoolsForTheArrayOps) {
  // `@` has the precedence of `*`, left-associative; comparisons bind looser than arithmetic.
  EXPECT_EQ(P("a @ b + c"), "(+ (@ a b) c)");
  EXPECT_EQ(P("a + b @ c * d"), "(+ a (* (@ b c) d))");
  EXPECT_EQ(P("a @ b @ c"), "(@ (@ a b) c)");
  EXPECT_EQ(P("x @ y < 1"), "(compare (@ x y) < 1)");
  EXPECT_EQ(P("a != b"), "(compare a != b)");
  // Nested list displays, as da.from_array / da.concatenate take them.
  EXPECT_EQ(P("[[1, 2.5], [True, False]]"), "(list (list 1 2.5) (list True False))");
  EXPECT_EQ(P("[]"), "(list)");
  EXPECT_EQ(P("da.concatenate([x, y], axis=0)"), "(call (. da concatenate) (list x y) axis=0)");
  EXPECT_EQ(P("x.reshape(2, -1)"), "(call (. x reshape) 2 (neg 1))");
}

TEST(ParserTest, CallsWithKeywordsAndAttributePaths) {
  EXPECT_EQ(P("da.random.random((50000, 50000), chunks=(5000, 5000))"),
            "(call (. (. da random) random) (tuple 50000 50000) chunks=(tuple 5000 5000))");
  EXPECT_EQ(P("x.sum(axis=(1, 2)).compute()"),
            "(call (. (call (. x sum) axis=(tuple 1 2)) compute))");
  EXPECT_EQ(P("f()"), "(call f)");
  EXPECT_EQ(P("f(a, b=1,)"), "(call f a b=1)");
  EXPECT_EQ(P("x.astype('float32')"), "(call (. x astype) 'float32')");
}

TEST(ParserTest, SubscriptsWithSlices) {
  EXPECT_EQ(P("x[::-1, ::-1]"), "(getitem* x (slice _ _ (neg 1)) (slice _ _ (neg 1)))");
  EXPECT_EQ(P("x[1:2, 3, None, ...]"), "(getitem* x (slice 1 2 _) 3 None ...)");
  EXPECT_EQ(P("x[:]"), "(getitem x (slice _ _ _))");
  EXPECT_EQ(P("x[a:]"), "(getitem x (slice a _ _))");
  EXPECT_EQ(P("x[0,]"), "(getitem* x 0)");
  EXPECT_EQ(P("x[0]"), "(getitem x 0)");
  EXPECT_EQ(P("x[1:-1:2][0]"), "(getitem (getitem x (slice 1 (neg 1) 2)) 0)");
}

TEST(ParserTest, LiteralsAndStrings) {
  EXPECT_EQ(P("1e3"), "1000");
  EXPECT_EQ(P("0.5"), "0.5");
  EXPECT_EQ(P("'a' \"b\""), "'ab'");
  EXPECT_EQ(P("True"), "True");
  EXPECT_EQ(P("..."), "...");
}

TEST(ParserTest, StatementsAssignmentsAndImports) {
  auto program = Parse(
      "import dask.array as da\nimport numpy as np; from dask import array\n"
      "x = y = da.ones(3)  # comment\n\nx += 1\nx");
  ASSERT_TRUE(program.ok()) << program.status();
  const auto& s = program->statements;
  ASSERT_EQ(s.size(), 6u);
  EXPECT_EQ(s[0].kind, Stmt::Kind::kImport);
  EXPECT_EQ(s[0].module, "dask.array");
  EXPECT_EQ(s[0].alias, "da");
  EXPECT_EQ(s[1].module, "numpy");
  EXPECT_EQ(s[2].module, "dask.array");
  EXPECT_EQ(s[2].alias, "array");
  EXPECT_EQ(s[3].kind, Stmt::Kind::kAssign);
  EXPECT_EQ(s[3].targets, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(s[3].line, 3);
  EXPECT_EQ(s[4].kind, Stmt::Kind::kAugAssign);
  EXPECT_EQ(s[4].op, "+");
  EXPECT_EQ(s[5].kind, Stmt::Kind::kExpr);
  EXPECT_EQ(s[5].line, 6);
}

TEST(ParserTest, SeedLinesParse) {
  for (const char* src :
       {"x = da.random.random((50000, 50000)); y = da.exp(x).mean(); y",
        "x = da.ones((200000, 200000), chunks=(10000, 10000)); (x * x[::-1, ::-1]).sum()",
        "x = da.random.random((10000, 20000, 10), chunks=(1000, 1000, 5)); "
        "y = da.random.random((10000, 20000, 10), chunks=(1000, 1000, 5)); "
        "(da.arcsin(x) + da.arccos(y)).sum(axis=(1, 2))"}) {
    auto program = Parse(src);
    EXPECT_TRUE(program.ok()) << src << ": " << program.status();
  }
}

TEST(ParserTest, SyntaxErrorsNameLineColumnAndToken) {
  EXPECT_EQ(Error("x = (1 + )"), "line 1, column 10: unexpected token ')'");
  EXPECT_EQ(Error("x = 1\ny = f(,)"), "line 2, column 7: unexpected token ','");
  EXPECT_EQ(Error("x = 1 +"), "line 1, column 8: unexpected end of line");
  EXPECT_EQ(Error("x y"), "line 1, column 3: unexpected token 'y'");
  EXPECT_EQ(Error("x[]"), "line 1, column 3: unexpected token ']'");
  EXPECT_EQ(Error("f(a=1, 2)"), "line 1, column 8: positional argument follows keyword argument");
  EXPECT_EQ(Error("f(a=1, a=2)"), "line 1, column 8: keyword argument repeated: 'a'");
  EXPECT_EQ(Error("f(x) = 3"),
            "line 1, column 6: cannot assign to a function call (only names can be assigned)");
  EXPECT_EQ(Error("for i in x: pass"),
            "line 1, column 1: 'for' is not supported by the tessera language (expressions, "
            "assignments and imports only)");
  EXPECT_EQ(Error("x = lambda: 1"),
            "line 1, column 5: 'lambda' is not supported by the "
            "tessera language");
  EXPECT_EQ(Error("x = {}"),
            "line 1, column 5: dicts and sets are not supported by the "
            "tessera language");
  EXPECT_EQ(Error("x = (1, 2"), "line 1, column 5: '(' was never closed");
  EXPECT_EQ(Error("f(*args)"), "line 1, column 3: argument unpacking with '*' is not supported");
  EXPECT_EQ(Error("x.1"), "line 1, column 2: unexpected token '.1'");
}

TEST(ParserTest, ListComprehensions) {
  EXPECT_EQ(P("[x * 2 for x in range(3)]"), "(listcomp (* x 2) for x in (call range 3))");
  EXPECT_EQ(P("[f(i) for i in xs if i > 1]"), "(listcomp (call f i) for i in xs if (compare i > 1))");
  EXPECT_EQ(Error("[x for x in a for y in b]"),
            "line 1, column 15: nested comprehensions (two 'for' clauses) are not supported");
  EXPECT_EQ(Error("[x for x, y in a]"), "line 1, column 9: a comprehension's target must be a single name");
}

}  // namespace
}  // namespace tessera::cli

namespace tessera::cli {
namespace {

std::string Repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(s);
  return out;
}

// Regressions from fuzzing (fuzz/cli_parser_fuzzer.cc): deeply nested source overflowed the
// stack in the parser (unary operators), in DebugString and in the tree's destructor (long
// subscript and operator chains). Now each is a syntax error naming the limit, and source up to
// the limits parses.
TEST(ParserTest, DeepNestingIsASyntaxErrorNotAStackOverflow) {
  const std::string too_deep = absl::StrCat("more than ", kMaxNesting, " levels");
  const std::string too_tall = absl::StrCat("more than ", kMaxExprHeight, " levels");
  EXPECT_NE(Error(absl::StrCat(Repeat("-", 100000), "1")).find(too_deep), std::string::npos);
  EXPECT_NE(Error(absl::StrCat(Repeat("not ", 100000), "x")).find(too_deep), std::string::npos);
  EXPECT_NE(Error(absl::StrCat(Repeat("(", 100000), "1", Repeat(")", 100000))).find(too_deep),
            std::string::npos);
  EXPECT_NE(Error(absl::StrCat(Repeat("[", 100000), Repeat("]", 100000))).find(too_deep),
            std::string::npos);
  EXPECT_NE(Error(absl::StrCat("x", Repeat("[0]", 100000))).find(too_tall), std::string::npos);
  EXPECT_NE(Error(absl::StrCat("x", Repeat(".a", 100000))).find(too_tall), std::string::npos);
  EXPECT_NE(Error(absl::StrCat("1", Repeat(" + 1", 100000))).find(too_tall), std::string::npos);
  EXPECT_NE(Error(absl::StrCat("2", Repeat("**2", 100000))).find(too_deep), std::string::npos);
  EXPECT_TRUE(absl::StartsWith(Error(absl::StrCat(Repeat("-", 300), "1")), "line 1, column "));
  EXPECT_TRUE(absl::EndsWith(Error(absl::StrCat(Repeat("-", 300), "1")),
                             ": expression nested too deeply (more than 200 levels)"));

  EXPECT_EQ(P(absl::StrCat(Repeat("(", kMaxNesting - 2), "1", Repeat(")", kMaxNesting - 2))), "1");
  EXPECT_TRUE(Parse(absl::StrCat(Repeat("-", kMaxNesting - 2), "1")).ok());
  EXPECT_TRUE(Parse(absl::StrCat("x", Repeat("[0]", kMaxExprHeight - 1))).ok());
  EXPECT_TRUE(Parse(absl::StrCat("1", Repeat(" + 1", kMaxExprHeight - 1))).ok());
  EXPECT_FALSE(Parse(absl::StrCat("1", Repeat(" + 1", kMaxExprHeight))).ok());
}

}  // namespace
}  // namespace tessera::cli
