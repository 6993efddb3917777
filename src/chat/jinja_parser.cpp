// Lexer and parser for Jinja templates with Hugging Face's settings: trim_blocks=True,
// lstrip_blocks=True, keep_trailing_newline=False, loopcontrols. The lexer follows jinja2's lexer.py
// (newline normalisation, whitespace control, brace balancing inside tags); the grammar and operator
// precedence follow jinja2's parser.py.
#include <algorithm>
#include <cstring>
#include <string>
#include <set>

#include "jinja_ast.h"
#include "prospect/core/error.h"

namespace prospect::chat::jinja {

bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);

namespace {

[[noreturn]] void fail(int line, const std::string& msg) {
  throw prospect::Error("chat template line " + std::to_string(line), msg);
}

enum class TT { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  TT t;
  std::string v;
  int line = 0;
  int64_t i = 0;
  double f = 0;
};

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_start(unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; }
bool is_name_char(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

// Python's unicode-escape decoding of a string literal body (unknown escapes stay as written).
std::string unescape(const std::string& s, int line) {
  std::string out;
  for (size_t k = 0; k < s.size(); ++k) {
    char c = s[k];
    if (c != '\\' || k + 1 >= s.size()) { out += c; continue; }
    char e = s[++k];
    auto hex = [&](int n) -> uint32_t {
      uint32_t v = 0;
      for (int q = 1; q <= n; ++q) {
        if (k + q >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[k + q])))
          fail(line, "truncated \\x/\\u escape in string literal");
        char h = s[k + q];
        v = v * 16 + (std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
      }
      k += n;
      return v;
    };
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\n': break;  // line continuation
      case 'x': append_utf8(out, hex(2)); break;
      case 'u': append_utf8(out, hex(4)); break;
      case 'U': append_utf8(out, hex(8)); break;
      default:
        if (e >= '0' && e <= '7') {
          uint32_t v = e - '0';
          for (int q = 0; q < 2 && k + 1 < s.size() && s[k + 1] >= '0' && s[k + 1] <= '7'; ++q) v = v * 8 + (s[++k] - '0');
          append_utf8(out, v);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(normalize(std::move(src))) {}

  std::vector<Token> run() {
    size_t pos = 0, n = src_.size();
    while (pos < n) {
      size_t p = find_tag(pos);
      std::string data = src_.substr(pos, (p == std::string::npos ? n : p) - pos);
      if (p == std::string::npos) {
        emit_data(data, pos);
        break;
      }
      char kind = src_[p + 1];  // '{', '%', '#'
      char sign = p + 2 < n ? src_[p + 2] : 0;
      if (sign == '-') {
        size_t e = data.size();
        while (e > 0 && is_ws(data[e - 1])) --e;
        data.resize(e);
      } else if (sign != '+' && kind != '{') {
        // lstrip_blocks: drop spaces/tabs between the line start and a block or comment tag.
        size_t lpos = data.rfind('\n');
        lpos = lpos == std::string::npos ? 0 : lpos + 1;
        bool line_starting = pos == 0 || src_[pos - 1] == '\n';
        if (lpos > 0 || line_starting) {
          bool all_ws = lpos < data.size();
          for (size_t k = lpos; k < data.size(); ++k) all_ws = all_ws && is_ws(data[k]);
          if (all_ws) data.resize(lpos);
        }
      }
      emit_data(data, pos);
      size_t q = p + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (kind == '#') {
        size_t e = src_.find("#}", q);
        if (e == std::string::npos) fail(line_at(p), "unterminated comment");
        bool strip = e > q && src_[e - 1] == '-';
        pos = after_end(e + 2, strip, true, e > q && src_[e - 1] == '+');
        continue;
      }
      if (kind == '%' && is_raw(q)) {
        pos = lex_raw(p, q);
        continue;
      }
      pos = lex_tag(p, q, kind == '{');
    }
    tokens_.push_back({TT::Eof, "", line_at(n)});
    return std::move(tokens_);
  }

 private:
  static std::string normalize(std::string s) {
    std::string out;
    out.reserve(s.size());
    for (size_t k = 0; k < s.size(); ++k) {
      if (s[k] == '\r') {
        out += '\n';
        if (k + 1 < s.size() && s[k + 1] == '\n') ++k;
      } else out += s[k];
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
    return out;
  }

  int line_at(size_t pos) {
    // Lines are counted incrementally; positions are visited in increasing order.
    while (line_pos_ < pos && line_pos_ < src_.size()) {
      if (src_[line_pos_] == '\n') ++line_;
      ++line_pos_;
    }
    return line_;
  }

  size_t find_tag(size_t from) const {
    size_t p = from;
    while ((p = src_.find('{', p)) != std::string::npos) {
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) return p;
      ++p;
    }
    return std::string::npos;
  }

  void emit_data(const std::string& data, size_t pos) {
    if (!data.empty()) tokens_.push_back({TT::Data, data, line_at(pos)});
  }

  // After a tag end: '-' strips all following whitespace; trim_blocks drops one newline after a
  // block or comment tag unless '+' was given.
  size_t after_end(size_t pos, bool strip, bool block, bool plus) {
    if (strip) {
      while (pos < src_.size() && is_ws(src_[pos])) ++pos;
    } else if (block && !plus && pos < src_.size() && src_[pos] == '\n') {
      ++pos;
    }
    return pos;
  }

  bool is_raw(size_t q) const {
    size_t k = q;
    while (k < src_.size() && is_ws(src_[k])) ++k;
    if (src_.compare(k, 3, "raw") != 0) return false;
    k += 3;
    while (k < src_.size() && is_ws(src_[k])) ++k;
    return src_.compare(k, 2, "%}") == 0 || src_.compare(k, 3, "-%}") == 0;
  }

  size_t lex_raw(size_t p, size_t q) {
    size_t close = src_.find("%}", q);
    bool strip_after = src_[close - 1] == '-';
    size_t body = after_end(close + 2, strip_after, true, false);
    // Find {%[-+]? endraw [-]?%}
    size_t k = body;
    while (true) {
      size_t t = src_.find("{%", k);
      if (t == std::string::npos) fail(line_at(p), "missing endraw for raw block");
      size_t r = t + 2;
      char sign = r < src_.size() ? src_[r] : 0;
      if (sign == '-' || sign == '+') ++r;
      while (r < src_.size() && is_ws(src_[r])) ++r;
      if (src_.compare(r, 6, "endraw") == 0) {
        std::string data = src_.substr(body, t - body);
        if (sign == '-') {
          size_t e = data.size();
          while (e > 0 && is_ws(data[e - 1])) --e;
          data.resize(e);
        }
        emit_data(data, body);
        r += 6;
        while (r < src_.size() && is_ws(src_[r])) ++r;
        bool strip = src_[r] == '-';
        if (strip) ++r;
        if (src_.compare(r, 2, "%}") != 0) fail(line_at(t), "malformed endraw tag");
        return after_end(r + 2, strip, true, false);
      }
      k = t + 2;
    }
  }

  size_t lex_tag(size_t p, size_t q, bool var) {
    int line = line_at(p);
    tokens_.push_back({var ? TT::VarBegin : TT::BlockBegin, "", line});
    size_t n = src_.size();
    int depth = 0;
    size_t k = q;
    while (true) {
      while (k < n && is_ws(src_[k])) ++k;
      if (k >= n) fail(line, std::string("unterminated ") + (var ? "'{{'" : "'{%'") + " tag");
      int tline = line_at(k);
      if (depth == 0) {
        const char* end = var ? "}}" : "%}";
        bool minus = src_[k] == '-' && src_.compare(k + 1, 2, end) == 0;
        bool plus = !var && src_[k] == '+' && src_.compare(k + 1, 2, end) == 0;
        if (minus || plus || src_.compare(k, 2, end) == 0) {
          tokens_.push_back({var ? TT::VarEnd : TT::BlockEnd, "", tline});
          return after_end(k + 2 + ((minus || plus) ? 1 : 0), minus, !var, plus);
        }
      }
      char c = src_[k];
      if (c == '"' || c == '\'') {
        size_t e = k + 1;
        while (e < n && src_[e] != c) e += src_[e] == '\\' ? 2 : 1;
        if (e >= n) fail(tline, "unterminated string literal");
        tokens_.push_back({TT::String, unescape(src_.substr(k + 1, e - k - 1), tline), tline});
        k = e + 1;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t e = k;
        while (e < n && (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
        bool is_float = false;
        bool after_dot = k > 0 && src_[k - 1] == '.';
        if (!after_dot && e + 1 < n && src_[e] == '.' && std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
          is_float = true;
          ++e;
          while (e < n && (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
        }
        if (!after_dot && e < n && (src_[e] == 'e' || src_[e] == 'E')) {
          size_t x = e + 1;
          if (x < n && (src_[x] == '+' || src_[x] == '-')) ++x;
          if (x < n && std::isdigit(static_cast<unsigned char>(src_[x]))) {
            is_float = true;
            e = x;
            while (e < n && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
          }
        }
        std::string num;
        for (size_t z = k; z < e; ++z)
          if (src_[z] != '_') num += src_[z];
        Token t{is_float ? TT::Float : TT::Int, num, tline};
        if (is_float) t.f = std::strtod(num.c_str(), nullptr);
        else t.i = std::strtoll(num.c_str(), nullptr, 10);
        tokens_.push_back(t);
        k = e;
        continue;
      }
      if (is_name_start(static_cast<unsigned char>(c))) {
        size_t e = k;
        while (e < n && is_name_char(static_cast<unsigned char>(src_[e]))) ++e;
        tokens_.push_back({TT::Name, src_.substr(k, e - k), tline});
        k = e;
        continue;
      }
      static const char* two[] = {"//", "**", "==", "!=", "<=", ">="};
      bool matched = false;
      for (const char* op : two)
        if (src_.compare(k, 2, op) == 0) {
          tokens_.push_back({TT::Op, op, tline});
          k += 2;
          matched = true;
          break;
        }
      if (matched) continue;
      if (std::strchr("+-*/%~()[]{},.:|=<>;", c)) {
        if (c == '(' || c == '[' || c == '{') ++depth;
        if (c == ')' || c == ']' || c == '}') {
          if (depth == 0) fail(tline, std::string("unexpected '") + c + "'");
          --depth;
        }
        tokens_.push_back({TT::Op, std::string(1, c), tline});
        ++k;
        continue;
      }
      fail(tline, std::string("unexpected character '") + c + "' in tag");
    }
  }

  std::string src_;
  std::vector<Token> tokens_;
  size_t line_pos_ = 0;
  int line_ = 1;
};

// Bounds on a template's shape. Each nesting level of the source costs a dozen recursive parser frames,
// and each level of an expression tree a frame of evaluation and of destruction, so a hostile template
// ("((((...", "1+1+1+..." thousands long) would otherwise end in a stack overflow instead of an error.
// Jinja2 3.1.6 stops between 50 and 80 nested parentheses with a RecursionError; chat templates use < 10.
constexpr int kMaxNesting = 100;
constexpr int kMaxExprDepth = 256;

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Body parse_all() {
    std::string end;
    Body b = parse_body({}, &end);
    return b;
  }

 private:
  const Token& cur() const { return t_[p_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  bool is_op(const char* op) const { return cur().t == TT::Op && cur().v == op; }
  bool is_name(const char* nm) const { return cur().t == TT::Name && cur().v == nm; }
  Token next() { return t_[p_ < t_.size() - 1 ? p_++ : p_]; }
  void expect_op(const char* op) {
    if (!is_op(op)) fail(cur().line, std::string("expected '") + op + "', got " + describe(cur()));
    ++p_;
  }
  void expect_name(const char* nm) {
    if (!is_name(nm)) fail(cur().line, std::string("expected '") + nm + "', got " + describe(cur()));
    ++p_;
  }
  std::string expect_ident() {
    if (cur().t != TT::Name) fail(cur().line, "expected a name, got " + describe(cur()));
    return next().v;
  }
  void expect_block_end() {
    if (cur().t != TT::BlockEnd) fail(cur().line, "expected end of statement block, got " + describe(cur()));
    ++p_;
  }
  static std::string describe(const Token& t) {
    switch (t.t) {
      case TT::Data: return "template data";
      case TT::VarBegin: return "'{{'";
      case TT::VarEnd: return "'}}'";
      case TT::BlockBegin: return "'{%'";
      case TT::BlockEnd: return "'%}'";
      case TT::Eof: return "end of template";
      case TT::String: return "string literal";
      default: return "'" + t.v + "'";
    }
  }

  // Parses statements until a block tag whose name is in `ends` (consumed up to the name).
  Body parse_body(std::initializer_list<const char*> ends, std::string* found) {
    Nest nest(*this);
    Body body;
    while (true) {
      const Token& tk = cur();
      if (tk.t == TT::Eof) {
        if (ends.size() == 0) return body;
        std::string want;
        for (const char* e : ends) want += (want.empty() ? "" : "' or '") + std::string(e);
        fail(tk.line, "unexpected end of template, expected '" + want + "'");
      }
      if (tk.t == TT::Data) {
        auto s = std::make_unique<Stmt>(SK::Text, tk.line);
        s->text = tk.v;
        body.push_back(std::move(s));
        ++p_;
        continue;
      }
      if (tk.t == TT::VarBegin) {
        ++p_;
        auto s = std::make_unique<Stmt>(SK::Emit, tk.line);
        s->expr = parse_tuple(true);
        if (cur().t != TT::VarEnd) fail(cur().line, "expected '}}', got " + describe(cur()));
        ++p_;
        body.push_back(std::move(s));
        continue;
      }
      if (tk.t != TT::BlockBegin) fail(tk.line, "unexpected " + describe(tk));
      const Token& name = peek();
      if (name.t != TT::Name) fail(name.line, "expected a tag name, got " + describe(name));
      for (const char* e : ends)
        if (name.v == e) {
          p_ += 2;
          *found = name.v;
          return body;
        }
      p_ += 2;
      body.push_back(parse_statement(name.v, name.line));
    }
  }

  StmtP parse_statement(const std::string& tag, int line) {
    std::string found;
    if (tag == "if") {
      auto s = std::make_unique<Stmt>(SK::If, line);
      ExprP cond = parse_tuple(true);
      expect_block_end();
      while (true) {
        Body b = parse_body({"elif", "else", "endif"}, &found);
        s->branches.emplace_back(std::move(cond), std::move(b));
        if (found == "elif") {
          cond = parse_tuple(true);
          expect_block_end();
          continue;
        }
        if (found == "else") {
          expect_block_end();
          s->else_body = parse_body({"endif"}, &found);
        }
        expect_block_end();
        return s;
      }
    }
    if (tag == "for") {
      auto s = std::make_unique<Stmt>(SK::For, line);
      parse_targets(*s, false);
      expect_name("in");
      s->expr = parse_tuple(false);
      if (is_name("if")) {
        ++p_;
        s->cond = parse_tuple(true);
      }
      if (is_name("recursive")) fail(cur().line, "unsupported construct: recursive for loops");
      expect_block_end();
      s->body = parse_body({"endfor", "else"}, &found);
      if (found == "else") {
        expect_block_end();
        s->else_body = parse_body({"endfor"}, &found);
      }
      expect_block_end();
      return s;
    }
    if (tag == "set") {
      auto s = std::make_unique<Stmt>(SK::Set, line);
      parse_targets(*s, true);
      if (is_op("=")) {
        ++p_;
        s->expr = parse_tuple(true);
        expect_block_end();
        return s;
      }
      if (!s->attr.empty() || s->names.size() != 1) fail(line, "block set needs a single name");
      s->kind = SK::SetBlock;
      if (is_op("|")) s->filter = parse_filter_chain(nullptr);
      expect_block_end();
      s->body = parse_body({"endset"}, &found);
      expect_block_end();
      return s;
    }
    if (tag == "macro") {
      auto s = std::make_unique<Stmt>(SK::Macro, line);
      s->names.push_back(expect_ident());
      parse_signature(*s);
      expect_block_end();
      s->body = parse_body({"endmacro"}, &found);
      if (cur().t == TT::Name) ++p_;  // {% endmacro name %}
      expect_block_end();
      return s;
    }
    if (tag == "call") {
      auto s = std::make_unique<Stmt>(SK::CallBlock, line);
      if (is_op("(")) parse_signature(*s);
      s->expr = parse_expression(true);
      if (s->expr->kind != EK::Call) fail(line, "expected a call after 'call'");
      expect_block_end();
      s->body = parse_body({"endcall"}, &found);
      expect_block_end();
      return s;
    }
    if (tag == "filter") {
      auto s = std::make_unique<Stmt>(SK::FilterBlock, line);
      s->filter = parse_filter_chain(nullptr, /*leading_pipe=*/false);
      expect_block_end();
      s->body = parse_body({"endfilter"}, &found);
      expect_block_end();
      return s;
    }
    if (tag == "with") {
      auto s = std::make_unique<Stmt>(SK::With, line);
      while (cur().t != TT::BlockEnd) {
        if (!s->params.empty()) expect_op(",");
        std::string nm = expect_ident();
        expect_op("=");
        s->params.emplace_back(nm, parse_expression(true));
      }
      expect_block_end();
      s->body = parse_body({"endwith"}, &found);
      expect_block_end();
      return s;
    }
    if (tag == "generation") {  // transformers' AssistantTracker extension: renders its body
      auto s = std::make_unique<Stmt>(SK::Scope, line);
      expect_block_end();
      s->body = parse_body({"endgeneration"}, &found);
      expect_block_end();
      return s;
    }
    if (tag == "break" || tag == "continue") {
      auto s = std::make_unique<Stmt>(tag == "break" ? SK::Break : SK::Continue, line);
      expect_block_end();
      return s;
    }
    fail(line, "unsupported construct: unknown tag '" + tag + "'");
  }

  void parse_targets(Stmt& s, bool allow_attr) {
    bool paren = is_op("(");
    if (paren) ++p_;
    s.names.push_back(expect_ident());
    if (allow_attr && is_op(".")) {
      ++p_;
      s.attr = expect_ident();
      return;
    }
    while (is_op(",")) {
      ++p_;
      if (cur().t != TT::Name || is_name("in")) break;
      s.names.push_back(expect_ident());
    }
    if (paren) expect_op(")");
  }

  void parse_signature(Stmt& s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s.params.empty()) expect_op(",");
      std::string nm = expect_ident();
      ExprP def;
      if (is_op("=")) {
        ++p_;
        def = parse_expression(true);
      }
      s.params.emplace_back(nm, std::move(def));
    }
    expect_op(")");
  }

  // ---- expressions ----
  ExprP parse_tuple(bool with_condexpr) {
    int line = cur().line;
    ExprP first = parse_expression(with_condexpr);
    if (!is_op(",")) return first;
    auto t = std::make_unique<Expr>(EK::TupleLit, line);
    t->items.push_back(std::move(first));
    while (is_op(",")) {
      ++p_;
      if (cur().t == TT::VarEnd || cur().t == TT::BlockEnd || is_op(")") || is_name("if")) break;
      t->items.push_back(parse_expression(with_condexpr));
    }
    return sized(std::move(t));
  }

  ExprP parse_expression(bool with_condexpr = true) {
    Nest nest(*this);
    ExprP e = parse_or();
    if (!with_condexpr) return e;
    while (is_name("if")) {
      int line = cur().line;
      ++p_;
      auto c = std::make_unique<Expr>(EK::Cond, line);
      c->a = parse_or();  // condition
      c->b = std::move(e);
      if (is_name("else")) {
        ++p_;
        c->c = parse_expression(true);
      }
      e = sized(std::move(c));
    }
    return e;
  }

  ExprP bin(EK k, const std::string& op, ExprP l, ExprP r, int line) {
    auto e = std::make_unique<Expr>(k, line);
    e->name = op;
    e->a = std::move(l);
    e->b = std::move(r);
    return sized(std::move(e));
  }

  ExprP parse_or() {
    ExprP l = parse_and();
    while (is_name("or")) {
      int line = cur().line;
      ++p_;
      l = bin(EK::Or, "or", std::move(l), parse_and(), line);
    }
    return l;
  }
  ExprP parse_and() {
    ExprP l = parse_not();
    while (is_name("and")) {
      int line = cur().line;
      ++p_;
      l = bin(EK::And, "and", std::move(l), parse_not(), line);
    }
    return l;
  }
  ExprP parse_not() {
    if (is_name("not")) {
      Nest nest(*this);
      int line = cur().line;
      ++p_;
      auto e = std::make_unique<Expr>(EK::Not, line);
      e->a = parse_not();
      return sized(std::move(e));
    }
    return parse_compare();
  }
  ExprP parse_compare() {
    int line = cur().line;
    ExprP first = parse_math1();
    std::unique_ptr<Expr> cmp;
    while (true) {
      std::string op;
      if (cur().t == TT::Op && (cur().v == "==" || cur().v == "!=" || cur().v == "<" || cur().v == "<=" ||
                                cur().v == ">" || cur().v == ">=")) {
        op = cur().v;
        ++p_;
      } else if (is_name("in")) {
        op = "in";
        ++p_;
      } else if (is_name("not") && peek().t == TT::Name && peek().v == "in") {
        op = "notin";
        p_ += 2;
      } else break;
      if (!cmp) {
        cmp = std::make_unique<Expr>(EK::Compare, line);
        cmp->a = std::move(first);
      }
      cmp->ops.push_back(op);
      cmp->items.push_back(parse_math1());
    }
    return cmp ? sized(std::move(cmp)) : std::move(first);
  }
  ExprP parse_math1() {
    ExprP l = parse_concat();
    while (is_op("+") || is_op("-")) {
      Token op = next();
      l = bin(EK::Binary, op.v, std::move(l), parse_concat(), op.line);
    }
    return l;
  }
  ExprP parse_concat() {
    ExprP l = parse_math2();
    while (is_op("~")) {
      Token op = next();
      l = bin(EK::Binary, "~", std::move(l), parse_math2(), op.line);
    }
    return l;
  }
  ExprP parse_math2() {
    ExprP l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      Token op = next();
      l = bin(EK::Binary, op.v, std::move(l), parse_pow(), op.line);
    }
    return l;
  }
  ExprP parse_pow() {
    ExprP l = parse_unary(true);
    while (is_op("**")) {
      Token op = next();
      l = bin(EK::Binary, "**", std::move(l), parse_unary(true), op.line);
    }
    return l;
  }
  ExprP parse_unary(bool with_filter) {
    ExprP node;
    if (is_op("-") || is_op("+")) {
      Nest nest(*this);
      Token op = next();
      node = std::make_unique<Expr>(op.v == "-" ? EK::Neg : EK::Pos, op.line);
      node->a = parse_unary(false);
      node = sized(std::move(node));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprP parse_primary() {
    const Token& tk = cur();
    int line = tk.line;
    if (tk.t == TT::Name) {
      ++p_;
      auto lit = [&](Value v) {
        auto e = std::make_unique<Expr>(EK::Literal, line);
        e->value = std::move(v);
        return e;
      };
      if (tk.v == "true" || tk.v == "True") return lit(Value::boolean(true));
      if (tk.v == "false" || tk.v == "False") return lit(Value::boolean(false));
      if (tk.v == "none" || tk.v == "None") return lit(Value::none());
      auto e = std::make_unique<Expr>(EK::Name, line);
      e->name = tk.v;
      return e;
    }
    if (tk.t == TT::String) {
      std::string s;
      while (cur().t == TT::String) s += next().v;
      auto e = std::make_unique<Expr>(EK::Literal, line);
      e->value = Value::string(std::move(s));
      return e;
    }
    if (tk.t == TT::Int || tk.t == TT::Float) {
      ++p_;
      auto e = std::make_unique<Expr>(EK::Literal, line);
      e->value = tk.t == TT::Int ? Value::integer(tk.i) : Value::number(tk.f);
      return e;
    }
    if (is_op("(")) {
      ++p_;
      if (is_op(")")) {
        ++p_;
        return std::make_unique<Expr>(EK::TupleLit, line);
      }
      ExprP first = parse_expression(true);
      if (is_op(")")) {
        ++p_;
        return first;
      }
      auto t = std::make_unique<Expr>(EK::TupleLit, line);
      t->items.push_back(std::move(first));
      while (is_op(",")) {
        ++p_;
        if (is_op(")")) break;
        t->items.push_back(parse_expression(true));
      }
      expect_op(")");
      return sized(std::move(t));
    }
    if (is_op("[")) {
      ++p_;
      auto l = std::make_unique<Expr>(EK::ListLit, line);
      while (!is_op("]")) {
        if (!l->items.empty()) {
          expect_op(",");
          if (is_op("]")) break;
        }
        l->items.push_back(parse_expression(true));
      }
      expect_op("]");
      return sized(std::move(l));
    }
    if (is_op("{")) {
      ++p_;
      auto d = std::make_unique<Expr>(EK::DictLit, line);
      while (!is_op("}")) {
        if (!d->items.empty()) {
          expect_op(",");
          if (is_op("}")) break;
        }
        d->items.push_back(parse_expression(true));
        expect_op(":");
        d->items.push_back(parse_expression(true));
      }
      expect_op("}");
      return sized(std::move(d));
    }
    fail(line, "unexpected " + describe(tk) + " in expression");
  }

  ExprP parse_postfix(ExprP node) {
    while (true) {
      if (is_op(".")) {
        int line = cur().line;
        ++p_;
        if (cur().t == TT::Name) {
          auto e = std::make_unique<Expr>(EK::GetAttr, line);
          e->a = std::move(node);
          e->name = next().v;
          node = sized(std::move(e));
        } else if (cur().t == TT::Int) {
          auto e = std::make_unique<Expr>(EK::GetItem, line);
          e->a = std::move(node);
          e->b = std::make_unique<Expr>(EK::Literal, line);
          e->b->value = Value::integer(next().i);
          node = sized(std::move(e));
        } else fail(line, "expected an attribute name after '.'");
      } else if (is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else return node;
    }
  }

  ExprP parse_subscript(ExprP node) {
    int line = cur().line;
    expect_op("[");
    ExprP parts[3];
    bool is_slice = false;
    int idx = 0;
    while (!is_op("]")) {
      if (is_op(":")) {
        is_slice = true;
        if (++idx > 2) fail(line, "invalid slice");
        ++p_;
        continue;
      }
      if (parts[idx]) fail(line, "unsupported construct: tuple subscript");
      parts[idx] = parse_expression(true);
    }
    expect_op("]");
    if (!is_slice) {
      if (!parts[0]) fail(line, "empty subscript");
      auto e = std::make_unique<Expr>(EK::GetItem, line);
      e->a = std::move(node);
      e->b = std::move(parts[0]);
      return sized(std::move(e));
    }
    auto e = std::make_unique<Expr>(EK::Slice, line);
    e->a = std::move(node);
    e->items.resize(3);
    for (int k = 0; k < 3; ++k) e->items[k] = std::move(parts[k]);
    return sized(std::move(e));
  }

  void parse_args(Expr& e) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) {
        expect_op(",");
        if (is_op(")")) break;
      }
      first = false;
      if (is_op("*") || is_op("**")) fail(cur().line, "unsupported construct: *args / **kwargs in a call");
      if (cur().t == TT::Name && peek().t == TT::Op && peek().v == "=") {
        std::string nm = next().v;
        ++p_;
        e.kwargs.push_back({nm, parse_expression(true)});
      } else {
        if (!e.kwargs.empty()) fail(cur().line, "positional argument follows keyword argument");
        e.items.push_back(parse_expression(true));
      }
    }
    expect_op(")");
  }

  ExprP parse_call(ExprP node) {
    auto e = std::make_unique<Expr>(EK::Call, cur().line);
    e->a = std::move(node);
    parse_args(*e);
    return sized(std::move(e));
  }

  // `| name(args) | name ...`; leading_pipe=false for the filter tag (`{% filter upper %}`).
  ExprP parse_filter_chain(ExprP node, bool leading_pipe = true) {
    bool first = true;
    while ((first && !leading_pipe) || is_op("|")) {
      if (!(first && !leading_pipe)) ++p_;
      first = false;
      int line = cur().line;
      std::string nm = expect_ident();
      while (is_op(".")) {
        ++p_;
        nm += "." + expect_ident();
      }
      if (!is_known_filter(nm)) fail(line, "unsupported construct: no filter named '" + nm + "'");
      auto e = std::make_unique<Expr>(EK::Filter, line);
      e->name = nm;
      e->a = std::move(node);
      if (is_op("(")) parse_args(*e);
      node = sized(std::move(e));
    }
    return node;
  }

  ExprP parse_filter_expr(ExprP node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter_chain(std::move(node));
      } else if (is_name("is")) {
        int line = cur().line;
        ++p_;
        auto e = std::make_unique<Expr>(EK::Test, line);
        if (is_name("not")) {
          ++p_;
          e->negated = true;
        }
        std::string nm = expect_ident();
        while (is_op(".")) {
          ++p_;
          nm += "." + expect_ident();
        }
        if (!is_known_test(nm)) fail(line, "unsupported construct: no test named '" + nm + "'");
        e->name = nm;
        e->a = std::move(node);
        if (is_op("(")) {
          parse_args(*e);
        } else if ((cur().t == TT::Name || cur().t == TT::String || cur().t == TT::Int || cur().t == TT::Float ||
                    is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
          if (is_name("is")) fail(cur().line, "You cannot chain multiple tests with is");
          ExprP arg = parse_primary();
          e->items.push_back(parse_postfix(std::move(arg)));
        }
        node = sized(std::move(e));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else return node;
    }
  }

  // One level of recursive descent (a parenthesis, a nested block, a unary operator).
  struct Nest {
    Parser& p;
    explicit Nest(Parser& q) : p(q) {
      if (++p.nesting_ > kMaxNesting) {
        --p.nesting_;
        fail(p.cur().line, "the template nests deeper than " + std::to_string(kMaxNesting) + " levels");
      }
    }
    ~Nest() { --p.nesting_; }
  };

  // A compound node's depth from its operands'; fails past kMaxExprDepth.
  ExprP sized(ExprP e) {
    int d = 0;
    auto see = [&d](const ExprP& x) {
      if (x) d = std::max(d, x->depth);
    };
    see(e->a), see(e->b), see(e->c);
    for (const auto& x : e->items) see(x);
    for (const auto& k : e->kwargs) see(k.value);
    e->depth = d + 1;
    if (e->depth > kMaxExprDepth)
      fail(e->line, "an expression nests deeper than " + std::to_string(kMaxExprDepth) + " operations");
    return e;
  }

  std::vector<Token> t_;
  size_t p_ = 0;
  int nesting_ = 0;
};

}  // namespace

Body parse_template(const std::string& source) {
  Lexer lx(source);
  Parser ps(lx.run());
  return ps.parse_all();
}

}  // namespace prospect::chat::jinja
