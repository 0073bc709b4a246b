#include "cli/lexer.h"

#include <gtest/gtest.h>

namespace tessera::cli {
namespace {

std::vector<Token> Lex(std::string_view src) {
  auto tokens = Tokenize(src);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return tokens.ok() ? *tokens : std::vector<Token>{};
}

std::string Error(std::string_view src) {
  auto tokens = Tokenize(src);
  EXPECT_FALSE(tokens.ok());
  return tokens.ok() ? "" : std::string(tokens.status().message());
}

TEST(LexerTest, NumbersWithUnderscoresExponentsAndFractions) {
  auto t = Lex("10_000 1e3 0.5 .5 2. 0x1f 1E-2");
  ASSERT_EQ(t.size(), 9u);
  EXPECT_EQ(t[0].kind, TokenKind::kInt);
  EXPECT_EQ(t[0].int_value, 10000);
  EXPECT_EQ(t[1].kind, TokenKind::kFloat);
  EXPECT_EQ(t[1].float_value, 1000.0);
  EXPECT_EQ(t[2].float_value, 0.5);
  EXPECT_EQ(t[3].float_value, 0.5);
  EXPECT_EQ(t[4].kind, TokenKind::kFloat);
  EXPECT_EQ(t[4].float_value, 2.0);
  EXPECT_EQ(t[5].int_value, 31);
  EXPECT_EQ(t[6].float_value, 0.01);
  EXPECT_EQ(t[7].kind, TokenKind::kNewline);
  EXPECT_EQ(t[8].kind, TokenKind::kEnd);
}

TEST(LexerTest, OperatorsLongestMatchAndPositions) {
  auto t = Lex("x**-2 // y\n  z[...]");
  std::vector<std::string> texts;
  for (const auto& tok : t) texts.push_back(tok.text);
  EXPECT_EQ(texts, (std::vector<std::string>{"x", "**", "-", "2", "//", "y", "\n", "z", "[", "...",
                                             "]", "\n", ""}));
  EXPECT_EQ(t[7].line, 2);
  EXPECT_EQ(t[7].column, 3);
  EXPECT_EQ(t[9].column, 5);
}

TEST(LexerTest, MatmulComparisonsAndBrackets) {
  auto t = Lex("a@b @= c<=d!=e==f[[True]]");
  std::vector<std::string> texts;
  for (const auto& tok : t) texts.push_back(tok.text);
  EXPECT_EQ(texts, (std::vector<std::string>{"a", "@", "b", "@=", "c", "<=", "d", "!=", "e",
                                             "==", "f", "[", "[", "True", "]", "]", "\n", ""}));
  EXPECT_EQ(t[1].kind, TokenKind::kOp);
  EXPECT_EQ(t[13].kind, TokenKind::kName);  // True is a keyword the parser recognises
}

TEST(LexerTest, NewlinesInsideBracketsAndCommentsAreDropped) {
  auto t = Lex("f(1,  # one\n  2)\n# done\n");
  std::vector<std::string> texts;
  for (const auto& tok : t) texts.push_back(tok.text);
  EXPECT_EQ(texts, (std::vector<std::string>{"f", "(", "1", ",", "2", ")", "\n", "\n", "\n", ""}));
}

TEST(LexerTest, BackslashContinuation) {
  auto t = Lex("a = 1 + \\\n  2");
  EXPECT_EQ(t.size(), 7u);  // a = 1 + 2 NEWLINE END
}

TEST(LexerTest, Strings) {
  auto t = Lex(R"('float32' "a\"b" 'it\'s')");
  EXPECT_EQ(t[0].kind, TokenKind::kString);
  EXPECT_EQ(t[0].value, "float32");
  EXPECT_EQ(t[1].value, "a\"b");
  EXPECT_EQ(t[2].value, "it's");
}

TEST(LexerTest, ErrorsNameLineAndColumn) {
  EXPECT_EQ(Error("x = 1\ny = $"), "line 2, column 5: invalid character '$'");
  EXPECT_EQ(Error("s = 'abc"), "line 1, column 5: unterminated string literal");
  EXPECT_EQ(Error("f(1, 2"), "line 1, column 2: '(' was never closed");
  EXPECT_EQ(Error("x)"), "line 1, column 2: unmatched ')'");
  EXPECT_EQ(Error("12abc"), "line 1, column 1: invalid number literal '12a'");
  EXPECT_EQ(Error("99999999999999999999"),
            "line 1, column 1: integer literal 99999999999999999999 does not fit in 64 bits");
}

TEST(LexerTest, DescribeToken) {
  Token tok;
  tok.kind = TokenKind::kOp;
  tok.text = ")";
  EXPECT_EQ(DescribeToken(tok), "')'");
  tok.kind = TokenKind::kEnd;
  EXPECT_EQ(DescribeToken(tok), "end of input");
}

}  // namespace
}  // namespace tessera::cli
