#include "cli/parser.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/lexer.h"

namespace tessera::cli {
namespace {

// Python's keywords; apart from True/False/None and the operators, none may start an
// expression.
const std::set<std::string, std::less<>>& Keywords() {
  static const auto* k = new std::set<std::string, std::less<>>{
      "False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
      "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
      "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
      "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield"};
  return *k;
}

// Signals a syntax error; caught in Parse() and turned into a Status.
struct SyntaxError {
  std::string message;
};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Program ParseProgram() {
    Program program;
    while (!At(TokenKind::kEnd)) {
      if (At(TokenKind::kNewline) || AtOp(";")) {
        ++pos_;
        continue;
      }
      ParseStatement(program);
      if (AtOp(";")) {
        ++pos_;
        continue;
      }
      if (!At(TokenKind::kNewline) && !At(TokenKind::kEnd)) Unexpected(Peek());
    }
    return program;
  }

 private:
  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  bool At(TokenKind kind) const { return Peek().kind == kind; }
  bool AtOp(std::string_view op) const { return At(TokenKind::kOp) && Peek().text == op; }
  bool AtName(std::string_view name) const { return At(TokenKind::kName) && Peek().text == name; }
  const Token& Next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }

  [[noreturn]] static void Fail(const Token& at, const std::string& message) {
    throw SyntaxError{absl::StrCat("line ", at.line, ", column ", at.column, ": ", message)};
  }
  [[noreturn]] static void Unexpected(const Token& t) {
    if (t.kind == TokenKind::kNewline || t.kind == TokenKind::kEnd) {
      Fail(t, absl::StrCat("unexpected ", DescribeToken(t)));
    }
    Fail(t, absl::StrCat("unexpected token ", DescribeToken(t)));
  }
  void ExpectOp(std::string_view op) {
    if (!AtOp(op)) {
      const Token& t = Peek();
      if (t.kind == TokenKind::kNewline || t.kind == TokenKind::kEnd) {
        Fail(t, absl::StrCat("expected '", std::string(op), "' but found ", DescribeToken(t)));
      }
      Fail(t, absl::StrCat("unexpected token ", DescribeToken(t), " (expected '", std::string(op),
                           "')"));
    }
    ++pos_;
  }
  std::string ExpectName() {
    if (!At(TokenKind::kName) || Keywords().count(Peek().text)) Unexpected(Peek());
    return Next().text;
  }

  // Counts the recursion through ParseExpr, ParseNot and ParseFactor (every nesting of brackets
  // or unary operators passes one of them).
  class NestGuard {
   public:
    NestGuard(Parser* parser, const Token& at) : parser_(parser) {
      if (parser_->nesting_ >= kMaxNesting) {
        Fail(at, absl::StrCat("expression nested too deeply (more than ", kMaxNesting, " levels)"));
      }
      ++parser_->nesting_;
    }
    ~NestGuard() { --parser_->nesting_; }
    NestGuard(const NestGuard&) = delete;
    NestGuard& operator=(const NestGuard&) = delete;

   private:
    Parser* parser_;
  };

  // Sets e's height from its children (already sealed) and refuses a tree taller than
  // kMaxExprHeight before it grows further.
  static ExprPtr Seal(ExprPtr e) {
    int h = 0;
    for (const auto& item : e->items) {
      if (item != nullptr) h = std::max(h, item->height);
    }
    for (const auto& [key, value] : e->keywords) {
      if (value != nullptr) h = std::max(h, value->height);
    }
    e->height = h + 1;
    if (e->height > kMaxExprHeight) {
      Token at;
      at.line = e->line;
      at.column = e->column;
      Fail(at,
           absl::StrCat("expression nested too deeply (more than ", kMaxExprHeight, " levels)"));
    }
    return e;
  }

  static ExprPtr Make(Expr::Kind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }

  // ---- Statements ----

  void ParseStatement(Program& program) {
    const Token& first = Peek();
    if (first.kind == TokenKind::kName) {
      if (first.text == "import") return ParseImport(program);
      if (first.text == "from") return ParseFromImport(program);
      if (first.text == "pass") {
        ++pos_;
        return;
      }
      static const std::set<std::string, std::less<>> kUnsupported = {
          "def",   "class",  "if",       "elif",   "else",  "for",    "while",    "with",
          "try",   "except", "finally",  "return", "del",   "global", "nonlocal", "assert",
          "raise", "break",  "continue", "yield",  "async", "await",  "lambda"};
      if (kUnsupported.count(first.text)) {
        Fail(first, absl::StrCat("'", first.text,
                                 "' is not supported by the tessera language "
                                 "(expressions, assignments and imports only)"));
      }
    }
    ExprPtr value = ParseExprList();
    if (AtOp("=")) {
      Stmt stmt;
      stmt.kind = Stmt::Kind::kAssign;
      stmt.line = first.line;
      stmt.column = first.column;
      while (AtOp("=")) {
        const Token& eq = Next();
        if (value->kind != Expr::Kind::kName) {
          Fail(eq, absl::StrCat("cannot assign to ", Describe(*value),
                                " (only names can be assigned)"));
        }
        stmt.targets.push_back(value->name);
        value = ParseExprList();
      }
      stmt.value = std::move(value);
      program.statements.push_back(std::move(stmt));
      return;
    }
    static const std::set<std::string, std::less<>> kAugmented = {
        "+=", "-=", "*=", "/=", "//=", "%=", "**=", "@=", "&=", "|=", "^=", "<<=", ">>="};
    if (At(TokenKind::kOp) && kAugmented.count(Peek().text)) {
      const Token& op = Next();
      if (value->kind != Expr::Kind::kName) {
        Fail(op, absl::StrCat("cannot assign to ", Describe(*value)));
      }
      Stmt stmt;
      stmt.kind = Stmt::Kind::kAugAssign;
      stmt.line = first.line;
      stmt.column = first.column;
      stmt.targets.push_back(value->name);
      stmt.op = op.text.substr(0, op.text.size() - 1);
      stmt.value = ParseExprList();
      program.statements.push_back(std::move(stmt));
      return;
    }
    Stmt stmt;
    stmt.kind = Stmt::Kind::kExpr;
    stmt.line = first.line;
    stmt.column = first.column;
    stmt.value = std::move(value);
    program.statements.push_back(std::move(stmt));
  }

  std::string DottedName() {
    std::string name = ExpectName();
    while (AtOp(".")) {
      ++pos_;
      name.push_back('.');
      name += ExpectName();
    }
    return name;
  }

  // import a.b [as c] (, ...)*
  void ParseImport(Program& program) {
    const Token& kw = Next();
    do {
      if (AtOp(",")) ++pos_;
      Stmt stmt;
      stmt.kind = Stmt::Kind::kImport;
      stmt.line = kw.line;
      stmt.column = kw.column;
      stmt.module = DottedName();
      if (AtName("as")) {
        ++pos_;
        stmt.alias = ExpectName();
      }
      program.statements.push_back(std::move(stmt));
    } while (AtOp(","));
  }

  // from a.b import c [as d] (, ...)*: binds d to module "a.b.c".
  void ParseFromImport(Program& program) {
    const Token& kw = Next();
    const std::string module = DottedName();
    if (!AtName("import")) Unexpected(Peek());
    ++pos_;
    do {
      if (AtOp(",")) ++pos_;
      Stmt stmt;
      stmt.kind = Stmt::Kind::kImport;
      stmt.line = kw.line;
      stmt.column = kw.column;
      const std::string name = ExpectName();
      stmt.module = module + "." + name;
      stmt.alias = name;
      if (AtName("as")) {
        ++pos_;
        stmt.alias = ExpectName();
      }
      program.statements.push_back(std::move(stmt));
    } while (AtOp(","));
  }

  static std::string Describe(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kCall:
        return "a function call";
      case Expr::Kind::kAttribute:
        return "an attribute";
      case Expr::Kind::kSubscript:
        return "a subscript";
      case Expr::Kind::kTuple:
        return "a tuple";
      case Expr::Kind::kInt:
      case Expr::Kind::kFloat:
      case Expr::Kind::kString:
      case Expr::Kind::kBool:
      case Expr::Kind::kNone:
        return "a literal";
      default:
        return "an expression";
    }
  }

  // ---- Expressions, lowest precedence first ----

  bool StartsExpression() const {
    const Token& t = Peek();
    switch (t.kind) {
      case TokenKind::kName:
        return !Keywords().count(t.text) || t.text == "True" || t.text == "False" ||
               t.text == "None" || t.text == "not";
      case TokenKind::kInt:
      case TokenKind::kFloat:
      case TokenKind::kString:
        return true;
      case TokenKind::kOp:
        return t.text == "(" || t.text == "[" || t.text == "-" || t.text == "+" || t.text == "~" ||
               t.text == "...";
      default:
        return false;
    }
  }

  // expr (, expr)* [,]: a tuple when there is a comma.
  ExprPtr ParseExprList() {
    const Token& first = Peek();
    ExprPtr e = ParseExpr();
    if (!AtOp(",")) return e;
    ExprPtr tuple = Make(Expr::Kind::kTuple, first);
    tuple->items.push_back(std::move(e));
    while (AtOp(",")) {
      ++pos_;
      if (!StartsExpression()) break;
      tuple->items.push_back(ParseExpr());
    }
    return Seal(std::move(tuple));
  }

  ExprPtr ParseExpr() {
    const NestGuard nest(this, Peek());
    if (AtName("lambda")) Fail(Peek(), "'lambda' is not supported by the tessera language");
    ExprPtr e = ParseOr();
    if (AtName("if")) Fail(Peek(), "conditional expressions ('x if c else y') are not supported");
    return e;
  }

  ExprPtr BinaryNode(std::string op, const Token& at, ExprPtr a, ExprPtr b) {
    ExprPtr e = Make(Expr::Kind::kBinary, at);
    e->op = std::move(op);
    e->items.push_back(std::move(a));
    e->items.push_back(std::move(b));
    return Seal(std::move(e));
  }

  ExprPtr ParseOr() {
    ExprPtr e = ParseAnd();
    while (AtName("or")) {
      const Token& op = Next();
      e = BinaryNode("or", op, std::move(e), ParseAnd());
    }
    return e;
  }

  ExprPtr ParseAnd() {
    ExprPtr e = ParseNot();
    while (AtName("and")) {
      const Token& op = Next();
      e = BinaryNode("and", op, std::move(e), ParseNot());
    }
    return e;
  }

  ExprPtr ParseNot() {
    if (AtName("not")) {
      const NestGuard nest(this, Peek());
      const Token& op = Next();
      ExprPtr e = Make(Expr::Kind::kUnary, op);
      e->op = "not";
      e->items.push_back(ParseNot());
      return Seal(std::move(e));
    }
    return ParseComparison();
  }

  // Returns the comparison operator at the cursor ("<", "in", "not in", "is not", ...) or "".
  std::string ComparisonOp() const {
    if (At(TokenKind::kOp)) {
      const std::string& t = Peek().text;
      if (t == "<" || t == ">" || t == "==" || t == "!=" || t == "<=" || t == ">=") return t;
      return "";
    }
    if (AtName("in")) return "in";
    if (AtName("is")) {
      if (Peek(1).kind == TokenKind::kName && Peek(1).text == "not") return "is not";
      return "is";
    }
    if (AtName("not") && Peek(1).kind == TokenKind::kName && Peek(1).text == "in") {
      return "not in";
    }
    return "";
  }

  ExprPtr ParseComparison() {
    const Token& first = Peek();
    ExprPtr e = ParseBitOr();
    std::string op = ComparisonOp();
    if (op.empty()) return e;
    ExprPtr cmp = Make(Expr::Kind::kCompare, first);
    cmp->items.push_back(std::move(e));
    while (!op.empty()) {
      pos_ += (op == "is not" || op == "not in") ? 2 : 1;
      cmp->ops.push_back(op);
      cmp->items.push_back(ParseBitOr());
      op = ComparisonOp();
    }
    return Seal(std::move(cmp));
  }

  // Left-associative binary levels.
  template <typename NextFn>
  ExprPtr LeftAssoc(std::initializer_list<std::string_view> ops, NextFn next) {
    ExprPtr e = (this->*next)();
    while (At(TokenKind::kOp)) {
      bool match = false;
      for (std::string_view op : ops) match |= Peek().text == op;
      if (!match) break;
      const Token& op = Next();
      e = BinaryNode(op.text, op, std::move(e), (this->*next)());
    }
    return e;
  }

  ExprPtr ParseBitOr() { return LeftAssoc({"|"}, &Parser::ParseBitXor); }
  ExprPtr ParseBitXor() { return LeftAssoc({"^"}, &Parser::ParseBitAnd); }
  ExprPtr ParseBitAnd() { return LeftAssoc({"&"}, &Parser::ParseShift); }
  ExprPtr ParseShift() { return LeftAssoc({"<<", ">>"}, &Parser::ParseArith); }
  ExprPtr ParseArith() { return LeftAssoc({"+", "-"}, &Parser::ParseTerm); }
  ExprPtr ParseTerm() { return LeftAssoc({"*", "/", "//", "%", "@"}, &Parser::ParseFactor); }

  ExprPtr ParseFactor() {
    if (AtOp("-") || AtOp("+") || AtOp("~")) {
      const NestGuard nest(this, Peek());
      const Token& op = Next();
      ExprPtr e = Make(Expr::Kind::kUnary, op);
      e->op = op.text;
      e->items.push_back(ParseFactor());
      return Seal(std::move(e));
    }
    return ParsePower();
  }

  // primary ['**' factor]: right-associative, binds tighter than unary minus on its left.
  ExprPtr ParsePower() {
    ExprPtr e = ParsePrimary();
    if (AtOp("**")) {
      const NestGuard nest(this, Peek());  // right-associative: recurses through ParseFactor
      const Token& op = Next();
      e = BinaryNode("**", op, std::move(e), ParseFactor());
    }
    return e;
  }

  ExprPtr ParsePrimary() {
    ExprPtr e = ParseAtom();
    while (true) {
      if (AtOp(".")) {
        const Token& dot = Next();
        ExprPtr attr = Make(Expr::Kind::kAttribute, dot);
        if (!At(TokenKind::kName)) Unexpected(Peek());
        // Errors about an attribute point at its name.
        attr->line = Peek().line;
        attr->column = Peek().column;
        attr->name = Next().text;
        attr->items.push_back(std::move(e));
        e = Seal(std::move(attr));
      } else if (AtOp("(")) {
        e = ParseCall(std::move(e));
      } else if (AtOp("[")) {
        e = ParseSubscript(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr ParseCall(ExprPtr callee) {
    const Token& open = Next();
    ExprPtr call = Make(Expr::Kind::kCall, open);
    call->items.push_back(std::move(callee));
    while (!AtOp(")")) {
      if (AtOp("*") || AtOp("**")) {
        Fail(Peek(), absl::StrCat("argument unpacking with '", Peek().text, "' is not supported"));
      }
      if (At(TokenKind::kName) && Peek(1).kind == TokenKind::kOp && Peek(1).text == "=") {
        const Token& name = Peek();
        std::string key = ExpectName();
        ++pos_;  // '='
        for (const auto& [k, v] : call->keywords) {
          if (k == key) Fail(name, absl::StrCat("keyword argument repeated: '", key, "'"));
        }
        call->keywords.emplace_back(std::move(key), ParseExpr());
      } else {
        if (!call->keywords.empty()) {
          Fail(Peek(), "positional argument follows keyword argument");
        }
        if (!StartsExpression()) Unexpected(Peek());
        call->items.push_back(ParseExpr());
      }
      if (AtOp(",")) {
        ++pos_;
      } else if (!AtOp(")")) {
        Unexpected(Peek());
      }
    }
    ++pos_;  // ')'
    return Seal(std::move(call));
  }

  // One subscript item: an expression or a slice start:stop[:step].
  ExprPtr ParseSubscriptItem() {
    const Token& first = Peek();
    ExprPtr start;
    if (!AtOp(":")) {
      if (!StartsExpression()) Unexpected(Peek());
      start = ParseExpr();
      if (!AtOp(":")) return start;
    }
    ExprPtr slice = Make(Expr::Kind::kSlice, first);
    slice->items.resize(3);
    slice->items[0] = std::move(start);
    ++pos_;  // ':'
    auto bound = [&]() -> ExprPtr {
      if (AtOp(":") || AtOp(",") || AtOp("]")) return nullptr;
      if (!StartsExpression()) Unexpected(Peek());
      return ParseExpr();
    };
    slice->items[1] = bound();
    if (AtOp(":")) {
      ++pos_;
      slice->items[2] = bound();
    }
    return Seal(std::move(slice));
  }

  ExprPtr ParseSubscript(ExprPtr target) {
    const Token& open = Next();
    ExprPtr sub = Make(Expr::Kind::kSubscript, open);
    sub->items.push_back(std::move(target));
    if (AtOp("]")) Unexpected(Peek());
    sub->items.push_back(ParseSubscriptItem());
    while (AtOp(",")) {
      ++pos_;
      sub->subscript_tuple = true;
      if (AtOp("]")) break;
      sub->items.push_back(ParseSubscriptItem());
    }
    ExpectOp("]");
    return Seal(std::move(sub));
  }

  ExprPtr ParseAtom() {
    const Token& t = Peek();
    switch (t.kind) {
      case TokenKind::kInt: {
        ++pos_;
        ExprPtr e = Make(Expr::Kind::kInt, t);
        e->int_value = t.int_value;
        return e;
      }
      case TokenKind::kFloat: {
        ++pos_;
        ExprPtr e = Make(Expr::Kind::kFloat, t);
        e->float_value = t.float_value;
        return e;
      }
      case TokenKind::kString: {
        ExprPtr e = Make(Expr::Kind::kString, t);
        // Adjacent literals concatenate, as in Python.
        while (At(TokenKind::kString)) e->name += Next().value;
        return e;
      }
      case TokenKind::kName: {
        if (t.text == "True" || t.text == "False") {
          ++pos_;
          ExprPtr e = Make(Expr::Kind::kBool, t);
          e->bool_value = t.text == "True";
          return e;
        }
        if (t.text == "None") {
          ++pos_;
          return Make(Expr::Kind::kNone, t);
        }
        if (Keywords().count(t.text)) Unexpected(t);
        ++pos_;
        ExprPtr e = Make(Expr::Kind::kName, t);
        e->name = t.text;
        return e;
      }
      case TokenKind::kOp:
        if (t.text == "...") {
          ++pos_;
          return Make(Expr::Kind::kEllipsis, t);
        }
        if (t.text == "(") return ParseParen();
        if (t.text == "[") return ParseList();
        if (t.text == "{") Fail(t, "dicts and sets are not supported by the tessera language");
        Unexpected(t);
      default:
        Unexpected(t);
    }
  }

  // (), (e), (e,), (e1, e2, ...)
  ExprPtr ParseParen() {
    const Token& open = Next();
    if (AtOp(")")) {
      ++pos_;
      return Make(Expr::Kind::kTuple, open);
    }
    if (!StartsExpression()) Unexpected(Peek());
    ExprPtr first = ParseExpr();
    if (AtName("for")) Fail(Peek(), "generator expressions are not supported");
    if (AtOp(")")) {
      ++pos_;
      return first;
    }
    ExprPtr tuple = Make(Expr::Kind::kTuple, open);
    tuple->items.push_back(std::move(first));
    while (AtOp(",")) {
      ++pos_;
      if (AtOp(")")) break;
      if (!StartsExpression()) Unexpected(Peek());
      tuple->items.push_back(ParseExpr());
    }
    ExpectOp(")");
    return Seal(std::move(tuple));
  }

  ExprPtr ParseList() {
    const Token& open = Next();
    ExprPtr list = Make(Expr::Kind::kList, open);
    while (!AtOp("]")) {
      if (!StartsExpression()) Unexpected(Peek());
      list->items.push_back(ParseExpr());
      if (AtName("for")) {
        if (list->items.size() != 1) Unexpected(Peek());
        return ParseComprehension(open, std::move(list->items[0]));
      }
      if (AtOp(",")) {
        ++pos_;
      } else if (!AtOp("]")) {
        Unexpected(Peek());
      }
    }
    ++pos_;
    return Seal(std::move(list));
  }

  // `[element for name in iterable if condition]`, after the element; one `for` clause with a
  // plain name as target, and at most one `if`.
  ExprPtr ParseComprehension(const Token& open, ExprPtr element) {
    ++pos_;  // for
    ExprPtr comp = Make(Expr::Kind::kListComp, open);
    comp->name = ExpectName();
    if (AtOp(",")) Fail(Peek(), "a comprehension's target must be a single name");
    if (!AtName("in")) Fail(Peek(), absl::StrCat("expected 'in' but found ", DescribeToken(Peek())));
    ++pos_;
    comp->items.push_back(std::move(element));
    comp->items.push_back(ParseOr());
    if (AtName("if")) {
      ++pos_;
      comp->items.push_back(ParseOr());
    } else {
      comp->items.push_back(nullptr);
    }
    if (AtName("for")) Fail(Peek(), "nested comprehensions (two 'for' clauses) are not supported");
    ExpectOp("]");
    return Seal(std::move(comp));
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;
};

std::string FloatText(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

absl::StatusOr<Program> Parse(std::string_view source) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(source);
  if (!tokens.ok()) return tokens.status();
  try {
    return Parser(*std::move(tokens)).ParseProgram();
  } catch (const SyntaxError& e) {
    return absl::InvalidArgumentError(e.message);
  }
}

std::string DebugString(const Expr& e) {
  auto items = [&](size_t from) {
    std::vector<std::string> parts;
    for (size_t i = from; i < e.items.size(); ++i) {
      parts.push_back(e.items[i] ? DebugString(*e.items[i]) : "_");
    }
    return parts;
  };
  switch (e.kind) {
    case Expr::Kind::kName:
      return e.name;
    case Expr::Kind::kInt:
      return absl::StrCat(e.int_value);
    case Expr::Kind::kFloat:
      return FloatText(e.float_value);
    case Expr::Kind::kString:
      return absl::StrCat("'", e.name, "'");
    case Expr::Kind::kBool:
      return e.bool_value ? "True" : "False";
    case Expr::Kind::kNone:
      return "None";
    case Expr::Kind::kEllipsis:
      return "...";
    case Expr::Kind::kTuple:
      return absl::StrCat("(tuple", e.items.empty() ? "" : " ", absl::StrJoin(items(0), " "), ")");
    case Expr::Kind::kList:
      return absl::StrCat("(list", e.items.empty() ? "" : " ", absl::StrJoin(items(0), " "), ")");
    case Expr::Kind::kListComp:
      return absl::StrCat("(listcomp ", DebugString(*e.items[0]), " for ", e.name, " in ",
                          DebugString(*e.items[1]),
                          e.items[2] ? absl::StrCat(" if ", DebugString(*e.items[2])) : "", ")");
    case Expr::Kind::kUnary:
      return absl::StrCat("(", e.op == "-" ? "neg" : e.op, " ", DebugString(*e.items[0]), ")");
    case Expr::Kind::kBinary:
      return absl::StrCat("(", e.op, " ", absl::StrJoin(items(0), " "), ")");
    case Expr::Kind::kCompare: {
      std::string s = "(compare " + DebugString(*e.items[0]);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        absl::StrAppend(&s, " ", e.ops[i], " ", DebugString(*e.items[i + 1]));
      }
      return s + ")";
    }
    case Expr::Kind::kCall: {
      std::vector<std::string> parts = items(0);
      for (const auto& [k, v] : e.keywords) parts.push_back(k + "=" + DebugString(*v));
      return absl::StrCat("(call ", absl::StrJoin(parts, " "), ")");
    }
    case Expr::Kind::kAttribute:
      return absl::StrCat("(. ", DebugString(*e.items[0]), " ", e.name, ")");
    case Expr::Kind::kSubscript:
      return absl::StrCat("(getitem", e.subscript_tuple ? "*" : "", " ",
                          absl::StrJoin(items(0), " "), ")");
    case Expr::Kind::kSlice:
      return absl::StrCat("(slice ", absl::StrJoin(items(0), " "), ")");
  }
  return "?";
}

}  // namespace tessera::cli
