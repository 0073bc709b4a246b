#include "cli/lexer.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <limits>

#include "absl/strings/str_cat.h"

namespace tessera::cli {
namespace {

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// Longest first, so that "**=" wins over "**" and "*".
constexpr std::string_view kOps[] = {
    "**=", "//=", ">>=", "<<=", "...", "**", "//", "==", "!=", "<=", ">=", "<<",
    ">>",  "+=",  "-=",  "*=",  "/=",  "%=", "@=", "&=", "|=", "^=", "->", ":=",
    "+",   "-",   "*",   "/",   "%",   "@",  "<",  ">",  "=",  "(",  ")",  "[",
    "]",   "{",   "}",   ",",   ":",   ".",  ";",  "~",  "&",  "|",  "^"};

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  absl::StatusOr<std::vector<Token>> Run() {
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      if (c == '\n') {
        if (depth_ == 0) Push(TokenKind::kNewline, "\n", line_, Column());
        Advance();
        continue;
      }
      if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
        Advance();
        continue;
      }
      if (c == '#') {
        while (pos_ < src_.size() && src_[pos_] != '\n') Advance();
        continue;
      }
      if (c == '\\') {
        size_t p = pos_ + 1;
        if (p < src_.size() && src_[p] == '\r') ++p;
        if (p < src_.size() && src_[p] == '\n') {
          while (pos_ <= p) Advance();
          continue;
        }
        return Fail(line_, Column(),
                    "unexpected character '\\' (line continuation must end "
                    "the line)");
      }
      absl::Status status;
      if (IsDigit(c) || (c == '.' && pos_ + 1 < src_.size() && IsDigit(src_[pos_ + 1]))) {
        status = Number();
      } else if (IsNameStart(c)) {
        const int line = line_, column = Column();
        const size_t start = pos_;
        while (pos_ < src_.size() && IsNameChar(src_[pos_])) Advance();
        Push(TokenKind::kName, std::string(src_.substr(start, pos_ - start)), line, column);
      } else if (c == '\'' || c == '"') {
        status = String();
      } else {
        status = Operator();
      }
      if (!status.ok()) return status;
    }
    if (depth_ > 0) {
      return Fail(open_line_, open_column_,
                  absl::StrCat("'", std::string(1, open_char_), "' was never closed"));
    }
    Push(TokenKind::kNewline, "\n", line_, Column());
    Push(TokenKind::kEnd, "", line_, Column());
    return std::move(tokens_);
  }

 private:
  int Column() const { return static_cast<int>(pos_ - line_start_) + 1; }

  void Advance() {
    if (src_[pos_] == '\n') {
      ++line_;
      line_start_ = pos_ + 1;
    }
    ++pos_;
  }

  void Push(TokenKind kind, std::string text, int line, int column) {
    Token t;
    t.kind = kind;
    t.text = std::move(text);
    t.line = line;
    t.column = column;
    tokens_.push_back(std::move(t));
  }

  static absl::Status Fail(int line, int column, const std::string& message) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line, ", column ", column, ": ", message));
  }

  absl::Status Number() {
    const int line = line_, column = Column();
    const size_t start = pos_;
    std::string digits;  // without underscores
    bool is_float = false;
    int base = 10;
    if (src_[pos_] == '0' && pos_ + 1 < src_.size() &&
        std::string_view("xXoObB").find(src_[pos_ + 1]) != std::string_view::npos) {
      const char b = static_cast<char>(std::tolower(static_cast<unsigned char>(src_[pos_ + 1])));
      base = b == 'x' ? 16 : (b == 'o' ? 8 : 2);
      Advance();
      Advance();
      while (pos_ < src_.size() &&
             (std::isxdigit(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) {
        if (src_[pos_] != '_') digits.push_back(src_[pos_]);
        Advance();
      }
    } else {
      auto take_digits = [&] {
        while (pos_ < src_.size() && (IsDigit(src_[pos_]) || src_[pos_] == '_')) {
          if (src_[pos_] != '_') digits.push_back(src_[pos_]);
          Advance();
        }
      };
      take_digits();
      if (pos_ < src_.size() && src_[pos_] == '.' &&
          !(pos_ + 1 < src_.size() && src_[pos_ + 1] == '.')) {
        is_float = true;
        digits.push_back('.');
        Advance();
        take_digits();
      }
      if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
        size_t p = pos_ + 1;
        if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
        if (p < src_.size() && IsDigit(src_[p])) {
          is_float = true;
          digits.push_back('e');
          Advance();
          if (src_[pos_] == '+' || src_[pos_] == '-') {
            digits.push_back(src_[pos_]);
            Advance();
          }
          take_digits();
        }
      }
    }
    const std::string text(src_.substr(start, pos_ - start));
    if (pos_ < src_.size() && IsNameChar(src_[pos_])) {
      return Fail(line, column,
                  absl::StrCat("invalid number literal '", text, std::string(1, src_[pos_]), "'"));
    }
    Token t;
    t.text = text;
    t.line = line;
    t.column = column;
    if (is_float) {
      t.kind = TokenKind::kFloat;
      t.float_value = std::strtod(digits.c_str(), nullptr);
    } else {
      t.kind = TokenKind::kInt;
      if (digits.empty())
        return Fail(line, column, absl::StrCat("invalid number literal '", text, "'"));
      errno = 0;
      char* end = nullptr;
      const unsigned long long v = std::strtoull(digits.c_str(), &end, base);
      if (errno == ERANGE || *end != '\0' ||
          v > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
        return Fail(line, column,
                    absl::StrCat("integer literal ", text, " does not fit in 64 bits"));
      }
      t.int_value = static_cast<int64_t>(v);
    }
    tokens_.push_back(std::move(t));
    return absl::OkStatus();
  }

  absl::Status String() {
    const int line = line_, column = Column();
    const size_t start = pos_;
    const char quote = src_[pos_];
    Advance();
    std::string value;
    while (true) {
      if (pos_ >= src_.size() || src_[pos_] == '\n') {
        return Fail(line, column, "unterminated string literal");
      }
      const char c = src_[pos_];
      if (c == quote) {
        Advance();
        break;
      }
      if (c == '\\' && pos_ + 1 < src_.size()) {
        Advance();
        const char e = src_[pos_];
        switch (e) {
          case 'n':
            value.push_back('\n');
            break;
          case 't':
            value.push_back('\t');
            break;
          case '\\':
          case '\'':
          case '"':
            value.push_back(e);
            break;
          case '\n':
            break;
          default:
            value.push_back('\\');
            value.push_back(e);
        }
        Advance();
        continue;
      }
      value.push_back(c);
      Advance();
    }
    Push(TokenKind::kString, std::string(src_.substr(start, pos_ - start)), line, column);
    tokens_.back().value = std::move(value);
    return absl::OkStatus();
  }

  absl::Status Operator() {
    const int line = line_, column = Column();
    for (std::string_view op : kOps) {
      if (src_.substr(pos_, op.size()) != op) continue;
      for (size_t i = 0; i < op.size(); ++i) Advance();
      if (op == "(" || op == "[" || op == "{") {
        if (depth_++ == 0) {
          open_line_ = line;
          open_column_ = column;
          open_char_ = op[0];
        }
      } else if (op == ")" || op == "]" || op == "}") {
        if (depth_ == 0)
          return Fail(line, column, absl::StrCat("unmatched '", std::string(op), "'"));
        --depth_;
      }
      Push(TokenKind::kOp, std::string(op), line, column);
      return absl::OkStatus();
    }
    const unsigned char c = static_cast<unsigned char>(src_[pos_]);
    if (c >= 0x80) return Fail(line, column, "invalid non-ASCII character");
    return Fail(line, column, absl::StrCat("invalid character '", std::string(1, src_[pos_]), "'"));
  }

  std::string_view src_;
  size_t pos_ = 0;
  size_t line_start_ = 0;
  int line_ = 1;
  int depth_ = 0;
  int open_line_ = 0, open_column_ = 0;
  char open_char_ = '(';
  std::vector<Token> tokens_;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source) { return Lexer(source).Run(); }

std::string DescribeToken(const Token& token) {
  switch (token.kind) {
    case TokenKind::kNewline:
      return "end of line";
    case TokenKind::kEnd:
      return "end of input";
    default:
      return absl::StrCat("'", token.text, "'");
  }
}

}  // namespace tessera::cli
