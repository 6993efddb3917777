#include "jinja_interp.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <set>
#include <unordered_map>

#include "prospect/chat/chat_template.h"

namespace prospect::chat::jinja {

namespace {

const std::set<std::string>& filter_names() {
  static const std::set<std::string> s = {
      "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
      "forceescape", "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map",
      "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr",
      "sort", "string", "sum", "title", "tojson", "trim", "unique", "upper", "wordcount"};
  return s;
}
const std::set<std::string>& test_names() {
  static const std::set<std::string> s = {
      "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==", "escaped", "even", "false",
      "filter", "float", "ge", ">=", "gt", ">", "greaterthan", "in", "integer", "iterable", "le", "<=", "lessthan",
      "lower", "lt", "<", "mapping", "ne", "!=", "none", "number", "odd", "sameas", "sequence", "string", "test",
      "true", "undefined", "upper"};
  return s;
}

[[noreturn]] void err(const std::string& msg) { throw JinjaError(msg); }

// jinja2's messages for undefined values.
std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return type_name(v) + " object";
}
Value undefined_attr(const Value& obj, const std::string& name) {
  return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + name + "'");
}

// ---- string helpers (Python semantics on code points) ----
std::vector<uint32_t> U(const std::string& s) { return decode_utf8(s); }

std::string py_strip(const std::string& s, const Value* chars, bool left, bool right) {
  auto cps = U(s);
  std::vector<uint32_t> set;
  bool ws = !chars || chars->is_none();
  if (!ws) {
    if (!chars->is_string()) err("strip arg must be None or str");
    set = U(chars->s);
  }
  auto strip_it = [&](uint32_t c) {
    return ws ? is_py_space(c) : std::find(set.begin(), set.end(), c) != set.end();
  };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strip_it(cps[b])) ++b;
  if (right)
    while (e > b && strip_it(cps[e - 1])) --e;
  return encode_utf8(std::vector<uint32_t>(cps.begin() + b, cps.begin() + e));
}

std::vector<std::string> py_split(const std::string& s, const Value* sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (!sep || sep->is_none()) {
    auto cps = U(s);
    size_t k = 0, n = cps.size();
    while (true) {
      while (k < n && is_py_space(cps[k])) ++k;
      if (k >= n) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        size_t e = n;
        while (e > k && is_py_space(cps[e - 1])) --e;
        out.push_back(encode_utf8(std::vector<uint32_t>(cps.begin() + k, cps.begin() + e)));
        break;
      }
      size_t b = k;
      while (k < n && !is_py_space(cps[k])) ++k;
      out.push_back(encode_utf8(std::vector<uint32_t>(cps.begin() + b, cps.begin() + k)));
    }
    return out;
  }
  if (!sep->is_string()) err("must be str or None, not " + type_name(*sep));
  const std::string& d = sep->s;
  if (d.empty()) err("empty separator");
  size_t start = 0;
  while (true) {
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) break;
    size_t p = s.find(d, start);
    if (p == std::string::npos) break;
    out.push_back(s.substr(start, p - start));
    start = p + d.size();
  }
  out.push_back(s.substr(start));
  return out;
}

std::vector<std::string> py_rsplit(const std::string& s, const Value* sep, int64_t maxsplit) {
  if (maxsplit < 0) return py_split(s, sep, -1);
  if (!sep || sep->is_none()) {
    auto cps = U(s);
    std::vector<std::string> rev;
    int64_t e = static_cast<int64_t>(cps.size());
    while (true) {
      while (e > 0 && is_py_space(cps[e - 1])) --e;
      if (e <= 0) break;
      if (static_cast<int64_t>(rev.size()) == maxsplit) {
        int64_t b = 0;
        while (b < e && is_py_space(cps[b])) ++b;
        rev.push_back(encode_utf8(std::vector<uint32_t>(cps.begin() + b, cps.begin() + e)));
        break;
      }
      int64_t b = e;
      while (b > 0 && !is_py_space(cps[b - 1])) --b;
      rev.push_back(encode_utf8(std::vector<uint32_t>(cps.begin() + b, cps.begin() + e)));
      e = b;
    }
    std::reverse(rev.begin(), rev.end());
    return rev;
  }
  if (!sep->is_string()) err("must be str or None, not " + type_name(*sep));
  const std::string& d = sep->s;
  if (d.empty()) err("empty separator");
  std::vector<std::string> rev;
  size_t end = s.size();
  while (static_cast<int64_t>(rev.size()) < maxsplit) {
    if (end < d.size()) break;
    size_t p = s.rfind(d, end - d.size());
    if (p == std::string::npos) break;
    rev.push_back(s.substr(p + d.size(), end - p - d.size()));
    end = p;
  }
  rev.push_back(s.substr(0, end));
  std::reverse(rev.begin(), rev.end());
  return rev;
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& neu, int64_t count) {
  if (count == 0) return s;
  std::string out;
  if (old.empty()) {
    auto cps = U(s);
    int64_t done = 0;
    for (size_t k = 0; k <= cps.size(); ++k) {
      if (count < 0 || done < count) {
        out += neu;
        ++done;
      }
      if (k < cps.size()) append_utf8(out, cps[k]);
    }
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t p = s.find(old, start);
    if (p == std::string::npos) break;
    out += s.substr(start, p - start) + neu;
    start = p + old.size();
    ++done;
  }
  return out + s.substr(start);
}

std::string map_cps(const std::string& s, uint32_t (*f)(uint32_t)) {
  std::string out;
  for (uint32_t c : U(s)) append_utf8(out, f(c));
  return out;
}
std::string py_title(const std::string& s) {  // str.title()
  std::string out;
  bool prev_cased = false;
  for (uint32_t c : U(s)) {
    bool alpha = py_isalpha(c);
    append_utf8(out, alpha ? (prev_cased ? py_lower(c) : py_upper(c)) : c);
    prev_cased = alpha;
  }
  return out;
}
std::string py_capitalize(const std::string& s) {
  auto cps = U(s);
  std::string out;
  for (size_t k = 0; k < cps.size(); ++k) append_utf8(out, k == 0 ? py_upper(cps[k]) : py_lower(cps[k]));
  return out;
}
// jinja2's title filter: capitalise after whitespace, '-', and opening brackets.
std::string jinja_title(const std::string& s) {
  std::string out;
  bool start = true;
  for (uint32_t c : U(s)) {
    bool sep = is_py_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) {
      append_utf8(out, c);
      start = true;
    } else {
      append_utf8(out, start ? py_upper(c) : py_lower(c));
      start = false;
    }
  }
  return out;
}

std::vector<std::string> py_splitlines(const std::string& s, bool keepends) {
  std::vector<std::string> out;
  auto cps = U(s);
  std::vector<uint32_t> line;
  for (size_t k = 0; k < cps.size(); ++k) {
    uint32_t c = cps[k];
    bool br = c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e ||
              c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!br) {
      line.push_back(c);
      continue;
    }
    if (keepends) line.push_back(c);
    if (c == '\r' && k + 1 < cps.size() && cps[k + 1] == '\n') {
      if (keepends) line.push_back('\n');
      ++k;
    }
    out.push_back(encode_utf8(line));
    line.clear();
  }
  if (!line.empty()) out.push_back(encode_utf8(line));
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

int64_t need_int(const Value& v, const char* what) {
  if (!v.is_int_like()) err(std::string(what) + ": an integer is required, got " + type_name(v));
  return v.as_int();
}
const std::string& need_str(const Value& v, const char* what) {
  if (!v.is_string()) err(std::string(what) + ": a string is required, got " + type_name(v));
  return v.s;
}

// Python sequence index with negatives; nullopt when out of range.
bool norm_index(int64_t& i, size_t n) {
  if (i < 0) i += static_cast<int64_t>(n);
  return i >= 0 && i < static_cast<int64_t>(n);
}

// Elements of an iterable as Python iterates it.
List iterate(const Value& v) {
  switch (v.t) {
    case VT::Undefined: return {};
    case VT::List: return *v.l;
    case VT::Dict: {
      List out;
      for (auto& kv : v.d->items) out.push_back(Value::string(kv.first));
      return out;
    }
    case VT::String: {
      List out;
      for (uint32_t c : U(v.s)) {
        std::string ch;
        append_utf8(ch, c);
        out.push_back(Value::string(ch));
      }
      return out;
    }
    default: err("'" + type_name(v) + "' object is not iterable");
  }
}

Value py_slice(const Value& obj, const Value* start, const Value* stop, const Value* step) {
  auto opt = [](const Value* v, const char* what) -> std::pair<bool, int64_t> {
    if (!v || v->is_none()) return {false, 0};
    return {true, need_int(*v, what)};
  };
  // A plain variable, not a structured binding: C++17 lambdas cannot capture those (clang rejects it).
  const auto step_opt = opt(step, "slice step");
  const int64_t st = step_opt.first ? step_opt.second : 1;
  if (st == 0) err("slice step cannot be zero");
  auto slice_idx = [&](size_t n, std::vector<size_t>& idx) {
    int64_t len = static_cast<int64_t>(n);
    auto [hb, b] = opt(start, "slice start");
    auto [he, e] = opt(stop, "slice stop");
    auto clamp = [&](int64_t x, bool neg_step) {
      if (x < 0) x += len;
      if (neg_step) return std::max<int64_t>(-1, std::min<int64_t>(x, len - 1));
      return std::max<int64_t>(0, std::min<int64_t>(x, len));
    };
    if (st > 0) {
      b = hb ? clamp(b, false) : 0;
      e = he ? clamp(e, false) : len;
      for (int64_t k = b; k < e; k += st) idx.push_back(static_cast<size_t>(k));
    } else {
      b = hb ? clamp(b, true) : len - 1;
      e = he ? clamp(e, true) : -1;
      for (int64_t k = b; k > e; k += st) idx.push_back(static_cast<size_t>(k));
    }
  };
  std::vector<size_t> idx;
  if (obj.is_string()) {
    auto cps = U(obj.s);
    slice_idx(cps.size(), idx);
    std::string out;
    for (size_t k : idx) append_utf8(out, cps[k]);
    return Value::string(out);
  }
  if (obj.is_list()) {
    slice_idx(obj.l->size(), idx);
    List out;
    for (size_t k : idx) out.push_back((*obj.l)[k]);
    return Value::list(std::move(out), obj.tuple);
  }
  obj.check_defined();
  err("'" + type_name(obj) + "' object is not subscriptable");
}

int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::string format_time(const std::string& fmt, const Value& now) {
  std::tm tm{};
  if (now.is_string()) {
    int Y = 0, M = 0, D = 0, h = 0, m = 0, s = 0;
    if (std::sscanf(now.s.c_str(), "%d-%d-%dT%d:%d:%d", &Y, &M, &D, &h, &m, &s) < 3)
      err("__now__ must be 'YYYY-MM-DDTHH:MM:SS' or epoch seconds, got '" + now.s + "'");
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = s;
    std::time_t t = timegm(&tm);  // normalises and fills tm_wday / tm_yday
    gmtime_r(&t, &tm);
  } else if (now.is_number()) {
    std::time_t t = static_cast<std::time_t>(now.as_double());
    gmtime_r(&t, &tm);
  } else {
    std::time_t t = std::time(nullptr);
    localtime_r(&t, &tm);
  }
  char buf[512];
  size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
  return std::string(buf, n);
}

}  // namespace

bool is_known_filter(const std::string& name) { return filter_names().count(name) > 0; }
bool is_known_test(const std::string& name) { return test_names().count(name) > 0; }

namespace {

enum class Flow { Normal, Break, Continue };

struct Scope {
  std::unordered_map<std::string, Value> vars;
  const Scope* parent = nullptr;
  const Value* lookup(const std::string& k) const {
    for (const Scope* s = this; s; s = s->parent) {
      auto it = s->vars.find(k);
      if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
  }
};

// Evaluation depth (statements and expressions on the interpreter's stack, macro calls included): a macro
// that calls itself without end must stop with an error, not overflow the stack. Jinja2 3.1 stops with a
// RecursionError between 200 and 300 levels of a one-`if` recursive macro (3 levels here each: 500).
// The parser bounds one expression at 256 levels.
constexpr int kMaxEvalDepth = 1500;

class Interp {
 public:
  explicit Interp(const Value& ctx) {
    if (ctx.is_mapping())
      for (auto& kv : ctx.d->items) root_.vars[kv.first] = kv.second;
    if (const Value* n = root_.lookup("__now__")) now_ = *n;
    install_globals();
  }

  std::string run(const Body& body) {
    std::string out;
    out_ = &out;
    try {
      Flow f = exec(body, root_);
      if (f != Flow::Normal) err("'break' or 'continue' outside of a loop");
    } catch (const RaiseError& e) {
      throw TemplateRaise("chat template line " + std::to_string(line_), e.what());
    } catch (const JinjaError& e) {
      throw prospect::Error("chat template line " + std::to_string(line_), e.what());
    }
    return out;
  }

 private:
  Scope root_;
  Scope globals_;
  std::string* out_ = nullptr;
  int line_ = 0;
  int depth_ = 0;
  Value now_;

  void install_globals() {
    globals_.vars["range"] = Value::func("range", [](CallArgs& a) {
      a.check("range", 3, {});
      if (a.pos.empty()) err("range expected at least 1 argument, got 0");
      int64_t start = 0, stop, step = 1;
      if (a.pos.size() == 1) stop = need_int(a.pos[0], "range");
      else {
        start = need_int(a.pos[0], "range");
        stop = need_int(a.pos[1], "range");
        if (a.pos.size() == 3) step = need_int(a.pos[2], "range");
      }
      if (step == 0) err("range() arg 3 must not be zero");
      List out;
      for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
        out.push_back(Value::integer(k));
        if (out.size() > 100000) err("range too big (the sandbox limits ranges to 100000 items)");
      }
      return Value::list(std::move(out));
    });
    globals_.vars["namespace"] = Value::func("namespace", [](CallArgs& a) {
      Dict d;
      for (auto& p : a.pos) {
        if (!p.is_mapping()) err("namespace() positional argument must be a dict");
        for (auto& kv : p.d->items) d.set(kv.first, kv.second);
      }
      for (auto& kv : a.kw) d.set(kv.first, kv.second);
      return Value::ns(std::move(d));
    });
    globals_.vars["dict"] = Value::func("dict", [](CallArgs& a) {
      Dict d;
      for (auto& p : a.pos) {
        if (!p.is_mapping()) err("dict() positional argument must be a dict");
        for (auto& kv : p.d->items) d.set(kv.first, kv.second);
      }
      for (auto& kv : a.kw) d.set(kv.first, kv.second);
      return Value::dict(std::move(d));
    });
    globals_.vars["raise_exception"] = Value::func("raise_exception", [](CallArgs& a) -> Value {
      throw RaiseError(a.pos.empty() ? std::string() : to_str(a.pos[0]));
    });
    globals_.vars["strftime_now"] = Value::func("strftime_now", [this](CallArgs& a) {
      a.check("strftime_now", 1, {"format"});
      const Value* f = a.get(0, "format");
      if (!f) err("strftime_now() missing the format argument");
      return Value::string(format_time(need_str(*f, "strftime_now"), now_));
    });
    root_.parent = &globals_;
  }

  // ---- statements ----
  Flow exec(const Body& body, Scope& sc) {
    for (auto& st : body) {
      Flow f = exec(*st, sc);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  void assign(Scope& sc, const std::vector<std::string>& names, const Value& v) {
    if (names.size() == 1) {
      sc.vars[names[0]] = v;
      return;
    }
    List items = iterate(v);
    if (items.size() != names.size())
      err("cannot unpack " + std::to_string(items.size()) + " values into " + std::to_string(names.size()) +
          " names");
    for (size_t k = 0; k < names.size(); ++k) sc.vars[names[k]] = items[k];
  }

  std::string capture(const Body& body, Scope& sc) {
    std::string buf;
    std::string* saved = out_;
    out_ = &buf;
    try {
      exec(body, sc);
    } catch (...) {
      out_ = saved;
      throw;
    }
    out_ = saved;
    return buf;
  }

  struct Deeper {
    int& d;
    explicit Deeper(int& depth) : d(depth) {
      if (++d > kMaxEvalDepth) {
        --d;
        err("the template recurses deeper than " + std::to_string(kMaxEvalDepth) +
            " levels (a macro that calls itself without end?)");
      }
    }
    ~Deeper() { --d; }
  };

  Flow exec(const Stmt& st, Scope& sc) {
    Deeper deeper(depth_);
    line_ = st.line;
    switch (st.kind) {
      case SK::Text: *out_ += st.text; return Flow::Normal;
      case SK::Emit: {
        Value v = eval(*st.expr, sc);
        *out_ += to_str(v);
        return Flow::Normal;
      }
      case SK::If: {
        for (auto& br : st.branches) {
          line_ = br.first->line;
          if (truthy(eval(*br.first, sc))) return exec(br.second, sc);
        }
        return exec(st.else_body, sc);
      }
      case SK::For: return exec_for(st, sc);
      case SK::Set: {
        Value v = eval(*st.expr, sc);
        if (!st.attr.empty()) {
          const Value* target = sc.lookup(st.names[0]);
          if (!target || target->t != VT::Namespace) err("cannot assign attribute on non-namespace object");
          target->d->set(st.attr, v);
        } else {
          assign(sc, st.names, v);
        }
        return Flow::Normal;
      }
      case SK::SetBlock: {
        Value v = Value::string(capture(st.body, sc));
        if (st.filter) v = apply_filter_chain(*st.filter, v, sc);
        sc.vars[st.names[0]] = v;
        return Flow::Normal;
      }
      case SK::FilterBlock: {
        Value v = Value::string(capture(st.body, sc));
        *out_ += to_str(apply_filter_chain(*st.filter, v, sc));
        return Flow::Normal;
      }
      case SK::Macro: {
        sc.vars[st.names[0]] = make_macro(st, sc, nullptr);
        return Flow::Normal;
      }
      case SK::CallBlock: {
        const Stmt* stp = &st;
        Scope* outer = &sc;
        Value caller = Value::func("caller", [this, stp, outer](CallArgs& a) {
          Scope local;
          local.parent = outer;
          bind_params(*stp, a, local, "caller");
          return Value::string(capture(stp->body, local));
        });
        const Expr& call = *st.expr;
        Value fn = eval(*call.a, sc);
        CallArgs args = eval_args(call, sc);
        args.kw.emplace_back("caller", caller);
        line_ = st.line;
        *out_ += to_str(call_value(fn, args));
        return Flow::Normal;
      }
      case SK::With: {
        Scope local;
        local.parent = &sc;
        for (auto& p : st.params) local.vars[p.first] = eval(*p.second, sc);
        return exec(st.body, local);
      }
      case SK::Scope: return exec(st.body, sc);
      case SK::Break: return Flow::Break;
      case SK::Continue: return Flow::Continue;
    }
    return Flow::Normal;
  }

  Flow exec_for(const Stmt& st, Scope& sc) {
    Value seq = eval(*st.expr, sc);
    List items = iterate(seq);
    if (st.cond) {
      List kept;
      for (auto& it : items) {
        Scope tmp;
        tmp.parent = &sc;
        assign(tmp, st.names, it);
        if (truthy(eval(*st.cond, tmp))) kept.push_back(it);
      }
      items.swap(kept);
    }
    if (items.empty()) {
      line_ = st.line;
      return exec(st.else_body, sc);
    }
    int64_t n = static_cast<int64_t>(items.size());
    for (int64_t k = 0; k < n; ++k) {
      Scope local;
      local.parent = &sc;
      assign(local, st.names, items[k]);
      Dict loop;
      loop.items.reserve(12);
      loop.set("index", Value::integer(k + 1));
      loop.set("index0", Value::integer(k));
      loop.set("revindex", Value::integer(n - k));
      loop.set("revindex0", Value::integer(n - k - 1));
      loop.set("first", Value::boolean(k == 0));
      loop.set("last", Value::boolean(k == n - 1));
      loop.set("length", Value::integer(n));
      loop.set("depth", Value::integer(1));
      loop.set("depth0", Value::integer(0));
      loop.set("previtem", k > 0 ? items[k - 1] : Value::undefined("there is no previous item"));
      loop.set("nextitem", k + 1 < n ? items[k + 1] : Value::undefined("there is no next item"));
      loop.set("cycle", Value::func("cycle", [k](CallArgs& a) {
        if (a.pos.empty()) err("no items for cycling given");
        return a.pos[static_cast<size_t>(k) % a.pos.size()];
      }));
      Value lv = Value::dict(std::move(loop));
      lv.t = VT::Namespace;  // attribute access only; printing as a loop object is not needed
      local.vars["loop"] = lv;
      Flow f = exec(st.body, local);
      if (f == Flow::Break) break;
    }
    return Flow::Normal;
  }

  void bind_params(const Stmt& st, CallArgs& a, Scope& local, const std::string& name) {
    size_t np = st.params.size();
    List varargs;
    for (size_t k = 0; k < a.pos.size(); ++k) {
      if (k < np) local.vars[st.params[k].first] = a.pos[k];
      else varargs.push_back(a.pos[k]);
    }
    Dict kwargs;
    for (auto& kv : a.kw) {
      bool found = false;
      for (size_t k = 0; k < np; ++k)
        if (st.params[k].first == kv.first) {
          if (k < a.pos.size()) err("macro '" + name + "' got multiple values for argument '" + kv.first + "'");
          local.vars[kv.first] = kv.second;
          found = true;
        }
      if (!found) {
        if (kv.first == "caller") local.vars["caller"] = kv.second;
        else kwargs.set(kv.first, kv.second);
      }
    }
    for (size_t k = 0; k < np; ++k) {
      if (local.vars.count(st.params[k].first)) continue;
      if (st.params[k].second) local.vars[st.params[k].first] = eval(*st.params[k].second, local);
      else local.vars[st.params[k].first] = Value::undefined("parameter '" + st.params[k].first + "' was not provided");
    }
    local.vars["varargs"] = Value::list(std::move(varargs));
    local.vars["kwargs"] = Value::dict(std::move(kwargs));
  }

  Value make_macro(const Stmt& st, Scope& defining, const Value*) {
    const Stmt* stp = &st;
    const Scope* def = &defining;
    return Value::func(st.names[0], [this, stp, def](CallArgs& a) {
      Scope local;
      local.parent = def;
      // The macro can call itself recursively through its own name.
      bind_params(*stp, a, local, stp->names[0]);
      int saved_line = line_;
      std::string s = capture(stp->body, local);
      line_ = saved_line;
      return Value::string(s);
    });
  }

  // ---- expressions ----
  CallArgs eval_args(const Expr& e, Scope& sc) {
    CallArgs a;
    for (auto& x : e.items) a.pos.push_back(eval(*x, sc));
    for (auto& kv : e.kwargs) a.kw.emplace_back(kv.name, eval(*kv.value, sc));
    return a;
  }

  Value call_value(const Value& fn, CallArgs& a) {
    if (fn.t != VT::Func) {
      if (fn.is_undefined()) {
        fn.check_defined();
      }
      err("'" + type_name(fn) + "' object is not callable");
    }
    return (*fn.fn)(a);
  }

  Value lookup(const std::string& name, Scope& sc) {
    if (const Value* v = sc.lookup(name)) return *v;
    return Value::undefined("'" + name + "' is undefined");
  }

  Value eval(const Expr& e, Scope& sc) {
    Deeper deeper(depth_);
    line_ = e.line;
    switch (e.kind) {
      case EK::Literal: return e.value;
      case EK::Name: return lookup(e.name, sc);
      case EK::ListLit:
      case EK::TupleLit: {
        List l;
        for (auto& x : e.items) l.push_back(eval(*x, sc));
        return Value::list(std::move(l), e.kind == EK::TupleLit);
      }
      case EK::DictLit: {
        Dict d;
        for (size_t k = 0; k + 1 < e.items.size(); k += 2) {
          Value key = eval(*e.items[k], sc);
          if (!key.is_string()) err("unsupported construct: dict literal with a non-string key");
          d.set(key.s, eval(*e.items[k + 1], sc));
        }
        return Value::dict(std::move(d));
      }
      case EK::GetAttr: return get_attr(eval(*e.a, sc), e.name);
      case EK::GetItem: return get_item(eval(*e.a, sc), eval(*e.b, sc));
      case EK::Slice: {
        Value obj = eval(*e.a, sc);
        Value parts[3];
        for (int k = 0; k < 3; ++k)
          if (e.items[k]) parts[k] = eval(*e.items[k], sc);
        obj.check_defined();
        return py_slice(obj, e.items[0] ? &parts[0] : nullptr, e.items[1] ? &parts[1] : nullptr,
                        e.items[2] ? &parts[2] : nullptr);
      }
      case EK::Call: {
        Value fn = eval(*e.a, sc);
        CallArgs a = eval_args(e, sc);
        line_ = e.line;
        return call_value(fn, a);
      }
      case EK::Filter: {
        Value v = eval(*e.a, sc);
        CallArgs a = eval_args(e, sc);
        line_ = e.line;
        return apply_filter(e.name, v, a, sc);
      }
      case EK::Test: {
        Value v = e.a->kind == EK::Name ? lookup(e.a->name, sc) : eval(*e.a, sc);
        CallArgs a = eval_args(e, sc);
        line_ = e.line;
        bool r = apply_test(e.name, v, a);
        return Value::boolean(e.negated ? !r : r);
      }
      case EK::Neg:
      case EK::Pos: {
        Value v = eval(*e.a, sc);
        v.check_defined();
        if (!v.is_number()) err("bad operand type for unary " + std::string(e.kind == EK::Neg ? "-" : "+") + ": '" + type_name(v) + "'");
        if (e.kind == EK::Pos) return v.t == VT::Bool ? Value::integer(v.as_int()) : v;
        return v.t == VT::Float ? Value::number(-v.f) : Value::integer(-v.as_int());
      }
      case EK::Not: return Value::boolean(!truthy(eval(*e.a, sc)));
      case EK::And: {
        Value l = eval(*e.a, sc);
        return truthy(l) ? eval(*e.b, sc) : l;
      }
      case EK::Or: {
        Value l = eval(*e.a, sc);
        return truthy(l) ? l : eval(*e.b, sc);
      }
      case EK::Binary: {
        Value l = eval(*e.a, sc);
        Value r = eval(*e.b, sc);
        line_ = e.line;
        return binary(e.name, l, r);
      }
      case EK::Compare: {
        Value l = eval(*e.a, sc);
        for (size_t k = 0; k < e.ops.size(); ++k) {
          Value r = eval(*e.items[k], sc);
          line_ = e.line;
          if (!compare(e.ops[k], l, r)) return Value::boolean(false);
          l = std::move(r);
        }
        return Value::boolean(true);
      }
      case EK::Cond: {
        if (truthy(eval(*e.a, sc))) return eval(*e.b, sc);
        if (e.c) return eval(*e.c, sc);
        return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                                " evaluated to false and no else section was defined.");
      }
    }
    err("internal: unknown expression");
  }

  bool contains(const Value& container, const Value& item) {
    switch (container.t) {
      case VT::String:
        if (!item.is_string()) err("'in <string>' requires string as left operand, not " + type_name(item));
        return container.s.find(item.s) != std::string::npos;
      case VT::List:
        for (auto& x : *container.l)
          if (equals(x, item)) return true;
        return false;
      case VT::Dict:
      case VT::Namespace:
        return item.is_string() && container.d->find(item.s) != nullptr;
      case VT::Undefined: return false;
      default: err("argument of type '" + type_name(container) + "' is not iterable");
    }
  }

  bool compare(const std::string& op, const Value& l, const Value& r) {
    if (op == "==") return equals(l, r);
    if (op == "!=") return !equals(l, r);
    if (op == "in") return contains(r, l);
    if (op == "notin") return !contains(r, l);
    l.check_defined();
    r.check_defined();
    if (op == "<") return less_than(l, r);
    if (op == ">") return less_than(r, l);
    if (op == "<=") return less_than(l, r) || equals(l, r);
    if (op == ">=") return less_than(r, l) || equals(l, r);
    err("unknown comparison " + op);
  }

  Value binary(const std::string& op, const Value& l, const Value& r) {
    if (op == "~") return Value::string(to_str(l) + to_str(r));
    l.check_defined();
    r.check_defined();
    auto unsupported = [&]() -> Value {
      err("unsupported operand type(s) for " + op + ": '" + type_name(l) + "' and '" + type_name(r) + "'");
    };
    if (l.is_number() && r.is_number()) {
      bool fl = l.t == VT::Float || r.t == VT::Float;
      if (op == "+") return fl ? Value::number(l.as_double() + r.as_double()) : Value::integer(l.as_int() + r.as_int());
      if (op == "-") return fl ? Value::number(l.as_double() - r.as_double()) : Value::integer(l.as_int() - r.as_int());
      if (op == "*") return fl ? Value::number(l.as_double() * r.as_double()) : Value::integer(l.as_int() * r.as_int());
      if (op == "/") {
        if (r.as_double() == 0) err("division by zero");
        return Value::number(l.as_double() / r.as_double());
      }
      if (op == "//" || op == "%") {
        if (r.as_double() == 0) err(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
        if (!fl) {
          int64_t q = floordiv(l.as_int(), r.as_int());
          return op == "//" ? Value::integer(q) : Value::integer(l.as_int() - q * r.as_int());
        }
        double a = l.as_double(), b = r.as_double();
        double m = std::fmod(a, b);
        if (m != 0 && ((m < 0) != (b < 0))) m += b;
        if (op == "%") return Value::number(m);
        return Value::number(std::floor((a - m) / b + 0.5));
      }
      if (op == "**") {
        if (!fl && r.as_int() >= 0) {
          int64_t res = 1, base = l.as_int();
          for (int64_t k = 0; k < r.as_int(); ++k) res *= base;
          return Value::integer(res);
        }
        return Value::number(std::pow(l.as_double(), r.as_double()));
      }
      return unsupported();
    }
    if (op == "+") {
      if (l.is_string() && r.is_string()) return Value::string(l.s + r.s);
      if (l.is_list() && r.is_list() && l.tuple == r.tuple) {
        List out = *l.l;
        out.insert(out.end(), r.l->begin(), r.l->end());
        return Value::list(std::move(out), l.tuple);
      }
      if (l.is_string() || r.is_string())
        err("can only concatenate str (not \"" + type_name(l.is_string() ? r : l) + "\") to str");
      return unsupported();
    }
    if (op == "*") {
      const Value* seq = l.is_int_like() ? &r : &l;
      const Value* cnt = l.is_int_like() ? &l : &r;
      if (!cnt->is_int_like()) return unsupported();
      int64_t n = std::max<int64_t>(0, cnt->as_int());
      if (seq->is_string()) {
        std::string out;
        for (int64_t k = 0; k < n; ++k) out += seq->s;
        return Value::string(out);
      }
      if (seq->is_list()) {
        List out;
        for (int64_t k = 0; k < n; ++k) out.insert(out.end(), seq->l->begin(), seq->l->end());
        return Value::list(std::move(out), seq->tuple);
      }
      return unsupported();
    }
    if (op == "%" && l.is_string()) return Value::string(printf_format(l.s, r));
    return unsupported();
  }

  // Python's `fmt % args` for %s, %r, %d, %i, %% (others: an unsupported-construct error).
  std::string printf_format(const std::string& fmt, const Value& args) {
    List a = (args.is_list() && args.tuple) ? *args.l : List{args};
    std::string out;
    size_t ai = 0;
    for (size_t k = 0; k < fmt.size(); ++k) {
      if (fmt[k] != '%') {
        out += fmt[k];
        continue;
      }
      if (++k >= fmt.size()) err("incomplete format");
      char c = fmt[k];
      if (c == '%') {
        out += '%';
        continue;
      }
      if (ai >= a.size()) err("not enough arguments for format string");
      const Value& v = a[ai++];
      if (c == 's') out += to_str(v);
      else if (c == 'r') out += py_repr(v);
      else if (c == 'd' || c == 'i') {
        if (!v.is_number()) err("%d format: a real number is required, not " + type_name(v));
        out += std::to_string(v.t == VT::Float ? static_cast<int64_t>(v.f) : v.as_int());
      } else err(std::string("unsupported construct: format conversion '%") + c + "'");
    }
    if (ai < a.size()) err("not all arguments converted during string formatting");
    return out;
  }

  // ---- attribute / item access (jinja2 sandbox getattr / getitem) ----
  Value get_attr(const Value& obj, const std::string& name) {
    obj.check_defined();
    switch (obj.t) {
      case VT::Dict: {
        if (Value m = method(obj, name); !m.is_undefined()) return m;
        if (const Value* v = obj.d->find(name)) return *v;
        return undefined_attr(obj, name);
      }
      case VT::Namespace: {
        if (const Value* v = obj.d->find(name)) return *v;
        return undefined_attr(obj, name);
      }
      case VT::String:
      case VT::List: {
        if (Value m = method(obj, name); !m.is_undefined()) return m;
        return undefined_attr(obj, name);
      }
      default: return undefined_attr(obj, name);
    }
  }

  Value get_item(const Value& obj, const Value& key) {
    obj.check_defined();
    if (key.is_string()) {
      if (obj.is_mapping()) {
        if (const Value* v = obj.d->find(key.s)) return *v;
      }
      if (obj.t == VT::Namespace) return undefined_attr(obj, key.s);
      return get_attr(obj, key.s);
    }
    if (key.is_int_like()) {
      int64_t i = key.as_int();
      if (obj.is_list()) {
        if (norm_index(i, obj.l->size())) return (*obj.l)[static_cast<size_t>(i)];
      } else if (obj.is_string()) {
        auto cps = U(obj.s);
        if (norm_index(i, cps.size())) {
          std::string ch;
          append_utf8(ch, cps[static_cast<size_t>(i)]);
          return Value::string(ch);
        }
      }
      return Value::undefined(object_type_repr(obj) + " has no element " + std::to_string(key.as_int()));
    }
    if (key.is_undefined()) key.check_defined();
    return Value::undefined(object_type_repr(obj) + " has no element " + py_repr(key));
  }

  // Bound methods of str, dict and list (Undefined when the name is not a method).
  Value method(const Value& self, const std::string& name) {
    auto bind = [&](auto f) {
      Value s = self;
      std::string nm = name;
      return Value::func(name, [s, nm, f, this](CallArgs& a) { return f(s, a); });
    };
    auto unsafe = [&]() {
      std::string msg = "access to attribute '" + name + "' of '" + type_name(self) + "' object is unsafe.";
      return Value::func(name, [msg](CallArgs&) -> Value { err(msg); });
    };
    if (self.is_string()) return string_method(self, name);
    if (self.is_dict()) {
      if (name == "items")
        return bind([](const Value& s, CallArgs& a) {
          a.check("items", 0, {});
          List out;
          for (auto& kv : s.d->items) out.push_back(Value::list({Value::string(kv.first), kv.second}, true));
          return Value::list(std::move(out));
        });
      if (name == "keys")
        return bind([](const Value& s, CallArgs& a) {
          a.check("keys", 0, {});
          List out;
          for (auto& kv : s.d->items) out.push_back(Value::string(kv.first));
          return Value::list(std::move(out));
        });
      if (name == "values")
        return bind([](const Value& s, CallArgs& a) {
          a.check("values", 0, {});
          List out;
          for (auto& kv : s.d->items) out.push_back(kv.second);
          return Value::list(std::move(out));
        });
      if (name == "get")
        return bind([](const Value& s, CallArgs& a) {
          a.check("get", 2, {});
          if (a.pos.empty()) err("get expected at least 1 argument, got 0");
          if (a.pos[0].is_string())
            if (const Value* v = s.d->find(a.pos[0].s)) return *v;
          return a.pos.size() > 1 ? a.pos[1] : Value::none();
        });
      if (name == "copy") return bind([](const Value& s, CallArgs&) { return s; });
      if (name == "update" || name == "pop" || name == "popitem" || name == "setdefault" || name == "clear")
        return unsafe();
      return Value();
    }
    if (self.is_list()) {
      if (name == "index" || name == "count")
        return bind([name](const Value& s, CallArgs& a) {
          if (a.pos.size() != 1) err(name + "() takes exactly one argument");
          int64_t n = 0;
          for (size_t k = 0; k < s.l->size(); ++k)
            if (equals((*s.l)[k], a.pos[0])) {
              if (name == "index") return Value::integer(static_cast<int64_t>(k));
              ++n;
            }
          if (name == "index") err(py_repr(a.pos[0]) + " is not in list");
          return Value::integer(n);
        });
      if (name == "copy") return bind([](const Value& s, CallArgs&) { return s; });
      if (!self.tuple && (name == "append" || name == "extend" || name == "insert" || name == "pop" ||
                          name == "remove" || name == "clear" || name == "sort" || name == "reverse"))
        return unsafe();
      return Value();
    }
    return Value();
  }

  Value string_method(const Value& self, const std::string& name) {
    std::string s = self.s;
    auto mk = [&](auto f) { return Value::func(name, [s, f](CallArgs& a) { return f(s, a); }); };
    if (name == "startswith" || name == "endswith") {
      bool starts = name == "startswith";
      return mk([starts](const std::string& s, CallArgs& a) {
        if (a.pos.empty() || a.pos.size() > 3) err("startswith/endswith takes 1 to 3 arguments");
        std::string sub = s;
        if (a.pos.size() > 1) {
          Value sv = Value::string(s);
          sub = py_slice(sv, &a.pos[1], a.pos.size() > 2 ? &a.pos[2] : nullptr, nullptr).s;
        }
        List cands = (a.pos[0].is_list() && a.pos[0].tuple) ? *a.pos[0].l : List{a.pos[0]};
        for (auto& c : cands) {
          const std::string& p = need_str(c, starts ? "startswith" : "endswith");
          if (p.size() <= sub.size() &&
              (starts ? sub.compare(0, p.size(), p) == 0 : sub.compare(sub.size() - p.size(), p.size(), p) == 0))
            return Value::boolean(true);
        }
        return Value::boolean(false);
      });
    }
    if (name == "split" || name == "rsplit") {
      bool r = name == "rsplit";
      return mk([r](const std::string& s, CallArgs& a) {
        a.check(r ? "rsplit" : "split", 2, {"sep", "maxsplit"});
        const Value* sep = a.get(0, "sep");
        const Value* ms = a.get(1, "maxsplit");
        int64_t maxsplit = ms ? need_int(*ms, "maxsplit") : -1;
        auto parts = r ? py_rsplit(s, sep, maxsplit) : py_split(s, sep, maxsplit);
        List out;
        for (auto& p : parts) out.push_back(Value::string(p));
        return Value::list(std::move(out));
      });
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      bool l = name != "rstrip", r = name != "lstrip";
      return mk([l, r](const std::string& s, CallArgs& a) {
        a.check("strip", 1, {});
        return Value::string(py_strip(s, a.get(0, nullptr), l, r));
      });
    }
    if (name == "upper") return mk([](const std::string& s, CallArgs& a) { a.check("upper", 0, {}); return Value::string(map_cps(s, py_upper)); });
    if (name == "lower") return mk([](const std::string& s, CallArgs& a) { a.check("lower", 0, {}); return Value::string(map_cps(s, py_lower)); });
    if (name == "title") return mk([](const std::string& s, CallArgs& a) { a.check("title", 0, {}); return Value::string(py_title(s)); });
    if (name == "capitalize") return mk([](const std::string& s, CallArgs& a) { a.check("capitalize", 0, {}); return Value::string(py_capitalize(s)); });
    if (name == "replace")
      return mk([](const std::string& s, CallArgs& a) {
        a.check("replace", 3, {"count"});
        if (a.pos.size() < 2) err("replace expected at least 2 arguments");
        const Value* c = a.get(2, "count");
        return Value::string(py_replace(s, need_str(a.pos[0], "replace"), need_str(a.pos[1], "replace"),
                                        c ? need_int(*c, "replace") : -1));
      });
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
      std::string nm = name;
      return mk([nm](const std::string& s, CallArgs& a) {
        if (a.pos.size() != 1) err(nm + "() with start/end arguments is not supported");
        const std::string& sub = need_str(a.pos[0], nm.c_str());
        size_t p = (nm == "find" || nm == "index") ? s.find(sub) : s.rfind(sub);
        if (p == std::string::npos) {
          if (nm == "index" || nm == "rindex") err("substring not found");
          return Value::integer(-1);
        }
        return Value::integer(static_cast<int64_t>(utf8_length(s.substr(0, p))));
      });
    }
    if (name == "count")
      return mk([](const std::string& s, CallArgs& a) {
        if (a.pos.size() != 1) err("count() with start/end arguments is not supported");
        const std::string& sub = need_str(a.pos[0], "count");
        if (sub.empty()) return Value::integer(static_cast<int64_t>(utf8_length(s)) + 1);
        int64_t n = 0;
        for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
        return Value::integer(n);
      });
    if (name == "join")
      return mk([](const std::string& s, CallArgs& a) {
        if (a.pos.size() != 1) err("join() takes exactly one argument");
        std::string out;
        bool first = true;
        for (auto& x : iterate(a.pos[0])) {
          if (!x.is_string()) err("sequence item: expected str instance, " + type_name(x) + " found");
          if (!first) out += s;
          first = false;
          out += x.s;
        }
        return Value::string(out);
      });
    if (name == "splitlines")
      return mk([](const std::string& s, CallArgs& a) {
        a.check("splitlines", 1, {"keepends"});
        const Value* k = a.get(0, "keepends");
        List out;
        for (auto& l : py_splitlines(s, k && truthy(*k))) out.push_back(Value::string(l));
        return Value::list(std::move(out));
      });
    if (name == "removeprefix" || name == "removesuffix") {
      bool pre = name == "removeprefix";
      return mk([pre](const std::string& s, CallArgs& a) {
        if (a.pos.size() != 1) err("removeprefix/removesuffix take exactly one argument");
        const std::string& x = need_str(a.pos[0], "removeprefix");
        if (pre && s.compare(0, x.size(), x) == 0 && x.size() <= s.size()) return Value::string(s.substr(x.size()));
        if (!pre && x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0)
          return Value::string(s.substr(0, s.size() - x.size()));
        return Value::string(s);
      });
    }
    if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "isalnum" || name == "islower" ||
        name == "isupper") {
      std::string nm = name;
      return mk([nm](const std::string& s, CallArgs& a) {
        a.check(nm, 0, {});
        auto cps = U(s);
        if (cps.empty()) return Value::boolean(false);
        bool cased = false, ok = true;
        for (uint32_t c : cps) {
          bool digit = c >= '0' && c <= '9';
          if (nm == "isdigit") ok = ok && digit;
          else if (nm == "isalpha") ok = ok && py_isalpha(c);
          else if (nm == "isspace") ok = ok && is_py_space(c);
          else if (nm == "isalnum") ok = ok && (digit || py_isalpha(c));
          else if (nm == "islower") { if (py_upper(c) != c) cased = true; if (py_lower(c) != c) ok = false; }
          else { if (py_lower(c) != c) cased = true; if (py_upper(c) != c) ok = false; }
        }
        if (nm == "islower" || nm == "isupper") ok = ok && cased;
        return Value::boolean(ok);
      });
    }
    if (name == "format")
      return mk([](const std::string& s, CallArgs& a) {
        std::string out;
        size_t auto_idx = 0;
        for (size_t k = 0; k < s.size(); ++k) {
          char c = s[k];
          if (c == '{' && k + 1 < s.size() && s[k + 1] == '{') { out += '{'; ++k; continue; }
          if (c == '}' && k + 1 < s.size() && s[k + 1] == '}') { out += '}'; ++k; continue; }
          if (c != '{') { out += c; continue; }
          size_t e = s.find('}', k);
          if (e == std::string::npos) err("Single '{' encountered in format string");
          std::string field = s.substr(k + 1, e - k - 1);
          if (field.find_first_of(":!.[") != std::string::npos)
            err("unsupported construct: str.format field '{" + field + "}'");
          const Value* v = nullptr;
          if (field.empty()) {
            if (auto_idx >= a.pos.size()) err("Replacement index out of range for positional args tuple");
            v = &a.pos[auto_idx++];
          } else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
            size_t i = std::stoul(field);
            if (i >= a.pos.size()) err("Replacement index out of range for positional args tuple");
            v = &a.pos[i];
          } else {
            for (auto& kv : a.kw)
              if (kv.first == field) v = &kv.second;
            if (!v) err("KeyError: '" + field + "'");
          }
          out += to_str(*v);
          k = e;
        }
        return Value::string(out);
      });
    return Value();
  }

  // ---- filters ----
  Value apply_filter_chain(const Expr& chain, const Value& input, Scope& sc) {
    if (!chain.a) {
      CallArgs a = eval_args(chain, sc);
      return apply_filter(chain.name, input, a, sc);
    }
    Value inner = apply_filter_chain(*chain.a, input, sc);
    CallArgs a = eval_args(chain, sc);
    return apply_filter(chain.name, inner, a, sc);
  }

  // Attribute lookup as jinja2's make_attrgetter ("a.b", "0").
  Value attr_path(const Value& v, const std::string& path) {
    Value cur = v;
    size_t start = 0;
    while (true) {
      size_t dot = path.find('.', start);
      std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
      cur = digits ? get_item(cur, Value::integer(std::stoll(part))) : get_item(cur, Value::string(part));
      if (dot == std::string::npos) return cur;
      start = dot + 1;
    }
  }

  static Value sort_key(const Value& v, bool case_sensitive) {
    if (!case_sensitive && v.is_string()) return Value::string(map_cps(v.s, py_lower));
    return v;
  }

  Value apply_filter(const std::string& name, const Value& v, CallArgs& a, Scope& sc) {
    auto str_of = [&]() { return to_str(v); };
    if (name == "safe") return v;
    if (name == "string") return Value::string(to_str(v));
    if (name == "e" || name == "escape" || name == "forceescape") return Value::string(html_escape(to_str(v)));
    if (name == "default" || name == "d") {
      a.check(name, 2, {"default_value", "boolean"});
      const Value* dv = a.get(0, "default_value");
      const Value* boolean = a.get(1, "boolean");
      bool use = v.is_undefined() || (boolean && truthy(*boolean) && !truthy(v));
      return use ? (dv ? *dv : Value::string("")) : v;
    }
    if (name == "length" || name == "count") {
      switch (v.t) {
        case VT::Undefined: return Value::integer(0);
        case VT::String: return Value::integer(static_cast<int64_t>(utf8_length(v.s)));
        case VT::List: return Value::integer(static_cast<int64_t>(v.l->size()));
        case VT::Dict: return Value::integer(static_cast<int64_t>(v.d->items.size()));
        default: err("object of type '" + type_name(v) + "' has no len()");
      }
    }
    if (name == "tojson") {
      a.check("tojson", 4, {"ensure_ascii", "indent", "separators", "sort_keys"});
      const Value* ea = a.get(0, "ensure_ascii");
      const Value* ind = a.get(1, "indent");
      const Value* seps = a.get(2, "separators");
      const Value* sk = a.get(3, "sort_keys");
      std::string indent_str;
      bool has_indent = ind && !ind->is_none();
      if (has_indent) indent_str = ind->is_string() ? ind->s : std::string(static_cast<size_t>(std::max<int64_t>(0, need_int(*ind, "indent"))), ' ');
      std::string item_sep = has_indent ? "," : ", ", key_sep = ": ";
      if (seps && !seps->is_none()) {
        if (!seps->is_list() || seps->l->size() != 2) err("tojson separators must be a pair of strings");
        item_sep = need_str((*seps->l)[0], "separators");
        key_sep = need_str((*seps->l)[1], "separators");
      }
      std::string out = to_json(v, has_indent ? &indent_str : nullptr, item_sep, key_sep, sk && truthy(*sk));
      if (ea && truthy(*ea)) {
        std::string esc;
        for (uint32_t c : U(out)) {
          char b[16];
          if (c < 0x80) esc += static_cast<char>(c);
          else if (c < 0x10000) { std::snprintf(b, sizeof b, "\\u%04x", c); esc += b; }
          else {
            uint32_t x = c - 0x10000;
            std::snprintf(b, sizeof b, "\\u%04x\\u%04x", 0xD800 + (x >> 10), 0xDC00 + (x & 0x3ff));
            esc += b;
          }
        }
        out = esc;
      }
      return Value::string(out);
    }
    if (name == "trim") {
      a.check("trim", 1, {"chars"});
      return Value::string(py_strip(str_of(), a.get(0, "chars"), true, true));
    }
    if (name == "upper") return Value::string(map_cps(str_of(), py_upper));
    if (name == "lower") return Value::string(map_cps(str_of(), py_lower));
    if (name == "title") return Value::string(jinja_title(str_of()));
    if (name == "capitalize") return Value::string(py_capitalize(str_of()));
    if (name == "replace") {
      a.check("replace", 3, {"old", "new", "count"});
      const Value* o = a.get(0, "old");
      const Value* n = a.get(1, "new");
      const Value* c = a.get(2, "count");
      if (!o || !n) err("replace filter needs old and new");
      return Value::string(py_replace(str_of(), to_str(*o), to_str(*n), c && !c->is_none() ? need_int(*c, "count") : -1));
    }
    if (name == "first" || name == "last") {
      List items = iterate(v);
      if (items.empty()) return Value::undefined(std::string("No ") + name + " item, sequence was empty.");
      return name == "first" ? items.front() : items.back();
    }
    if (name == "list") return Value::list(iterate(v));
    if (name == "reverse") {
      if (v.is_string()) {
        auto cps = U(v.s);
        std::reverse(cps.begin(), cps.end());
        return Value::string(encode_utf8(cps));
      }
      List items = iterate(v);
      std::reverse(items.begin(), items.end());
      return Value::list(std::move(items));
    }
    if (name == "join") {
      a.check("join", 2, {"d", "attribute"});
      const Value* d = a.get(0, "d");
      const Value* attr = a.get(1, "attribute");
      std::string sep = d ? to_str(*d) : "";
      std::string out;
      bool first = true;
      for (auto& x : iterate(v)) {
        if (!first) out += sep;
        first = false;
        out += to_str(attr && !attr->is_none() ? attr_path(x, to_str(*attr)) : x);
      }
      return Value::string(out);
    }
    if (name == "items") {
      if (v.is_undefined()) return Value::list({});
      if (!v.is_mapping()) err("Can only get item pairs from a mapping.");
      List out;
      for (auto& kv : v.d->items) out.push_back(Value::list({Value::string(kv.first), kv.second}, true));
      return Value::list(std::move(out));
    }
    if (name == "dictsort") {
      a.check("dictsort", 3, {"case_sensitive", "by", "reverse"});
      if (!v.is_mapping()) err("dictsort: a mapping is required");
      const Value* cs = a.get(0, "case_sensitive");
      const Value* by = a.get(1, "by");
      const Value* rev = a.get(2, "reverse");
      bool case_sens = cs && truthy(*cs);
      int pos = 0;
      if (by) {
        if (to_str(*by) == "value") pos = 1;
        else if (to_str(*by) != "key") err("You can only sort by either \"key\" or \"value\"");
      }
      List out;
      for (auto& kv : v.d->items) out.push_back(Value::list({Value::string(kv.first), kv.second}, true));
      std::stable_sort(out.begin(), out.end(), [&](const Value& x, const Value& y) {
        return less_than(sort_key((*x.l)[pos], case_sens), sort_key((*y.l)[pos], case_sens));
      });
      if (rev && truthy(*rev)) std::reverse(out.begin(), out.end());
      return Value::list(std::move(out));
    }
    if (name == "sort") {
      a.check("sort", 3, {"reverse", "case_sensitive", "attribute"});
      const Value* rev = a.get(0, "reverse");
      const Value* cs = a.get(1, "case_sensitive");
      const Value* attr = a.get(2, "attribute");
      bool case_sens = cs && truthy(*cs);
      List items = iterate(v);
      auto key = [&](const Value& x) {
        return sort_key(attr && !attr->is_none() ? attr_path(x, to_str(*attr)) : x, case_sens);
      };
      bool r = rev && truthy(*rev);
      std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
        return r ? less_than(key(y), key(x)) : less_than(key(x), key(y));
      });
      return Value::list(std::move(items));
    }
    if (name == "unique") {
      a.check("unique", 2, {"case_sensitive", "attribute"});
      const Value* cs = a.get(0, "case_sensitive");
      const Value* attr = a.get(1, "attribute");
      bool case_sens = cs && truthy(*cs);
      List out, seen;
      for (auto& x : iterate(v)) {
        Value k = sort_key(attr && !attr->is_none() ? attr_path(x, to_str(*attr)) : x, case_sens);
        bool dup = false;
        for (auto& s : seen) dup = dup || equals(s, k);
        if (!dup) {
          seen.push_back(k);
          out.push_back(x);
        }
      }
      return Value::list(std::move(out));
    }
    if (name == "map") {
      List out;
      const Value* attr = nullptr;
      const Value* dflt = nullptr;
      for (auto& kv : a.kw) {
        if (kv.first == "attribute") attr = &kv.second;
        else if (kv.first == "default") dflt = &kv.second;
      }
      if (attr) {
        for (auto& x : iterate(v)) {
          Value r = attr_path(x, to_str(*attr));
          if (r.is_undefined() && dflt) r = *dflt;
          out.push_back(r);
        }
        return Value::list(std::move(out));
      }
      if (a.pos.empty()) err("map requires a filter argument");
      std::string fname = need_str(a.pos[0], "map");
      if (!is_known_filter(fname)) err("unsupported construct: no filter named '" + fname + "'");
      CallArgs rest;
      rest.pos.assign(a.pos.begin() + 1, a.pos.end());
      rest.kw = a.kw;
      for (auto& x : iterate(v)) {
        CallArgs copy = rest;
        out.push_back(apply_filter(fname, x, copy, sc));
      }
      return Value::list(std::move(out));
    }
    if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
      bool attr_mode = name == "selectattr" || name == "rejectattr";
      bool want = name == "select" || name == "selectattr";
      size_t off = 0;
      std::string attr;
      if (attr_mode) {
        if (a.pos.empty()) err(name + " requires an attribute name");
        attr = to_str(a.pos[0]);
        off = 1;
      }
      std::string test;
      CallArgs targs;
      if (a.pos.size() > off) {
        test = need_str(a.pos[off], name.c_str());
        if (!is_known_test(test)) err("unsupported construct: no test named '" + test + "'");
        targs.pos.assign(a.pos.begin() + off + 1, a.pos.end());
        targs.kw = a.kw;
      }
      List out;
      for (auto& x : iterate(v)) {
        Value probe = attr_mode ? attr_path(x, attr) : x;
        bool r;
        if (test.empty()) r = truthy(probe);
        else {
          CallArgs copy = targs;
          r = apply_test(test, probe, copy);
        }
        if (r == want) out.push_back(x);
      }
      return Value::list(std::move(out));
    }
    if (name == "int") {
      a.check("int", 2, {"default", "base"});
      const Value* d = a.get(0, "default");
      const Value* b = a.get(1, "base");
      Value dflt = d ? *d : Value::integer(0);
      int base = b ? static_cast<int>(need_int(*b, "base")) : 10;
      if (v.is_int_like()) return Value::integer(v.as_int());
      if (v.t == VT::Float) return std::isfinite(v.f) ? Value::integer(static_cast<int64_t>(v.f)) : dflt;
      if (v.is_string()) {
        std::string s = py_strip(v.s, nullptr, true, true);
        std::string t;
        for (char c : s)
          if (c != '_') t += c;
        char* end = nullptr;
        errno = 0;
        long long x = std::strtoll(t.c_str(), &end, base);
        if (!t.empty() && end && *end == 0 && errno == 0) return Value::integer(x);
        double f = std::strtod(t.c_str(), &end);
        if (!t.empty() && end && *end == 0 && std::isfinite(f)) return Value::integer(static_cast<int64_t>(f));
      }
      return dflt;
    }
    if (name == "float") {
      a.check("float", 1, {"default"});
      const Value* d = a.get(0, "default");
      Value dflt = d ? *d : Value::number(0.0);
      if (v.is_number()) return Value::number(v.as_double());
      if (v.is_string()) {
        std::string s = py_strip(v.s, nullptr, true, true);
        char* end = nullptr;
        double f = std::strtod(s.c_str(), &end);
        if (!s.empty() && end && *end == 0) return Value::number(f);
      }
      return dflt;
    }
    if (name == "abs") {
      if (!v.is_number()) err("bad operand type for abs(): '" + type_name(v) + "'");
      return v.t == VT::Float ? Value::number(std::fabs(v.f)) : Value::integer(std::llabs(v.as_int()));
    }
    if (name == "round") {
      a.check("round", 2, {"precision", "method"});
      const Value* p = a.get(0, "precision");
      const Value* m = a.get(1, "method");
      int64_t prec = p ? need_int(*p, "precision") : 0;
      std::string method = m ? to_str(*m) : "common";
      if (!v.is_number()) err("round: a number is required, got " + type_name(v));
      if (method == "common") {
        if (v.is_int_like()) return Value::integer(v.as_int());
        char buf[512];
        std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::max<int64_t>(0, prec)), v.f);
        return Value::number(std::strtod(buf, nullptr));
      }
      double scale = std::pow(10.0, static_cast<double>(prec));
      if (method == "ceil") return Value::number(std::ceil(v.as_double() * scale) / scale);
      if (method == "floor") return Value::number(std::floor(v.as_double() * scale) / scale);
      err("method must be common, ceil or floor");
    }
    if (name == "sum") {
      a.check("sum", 2, {"attribute", "start"});
      const Value* attr = a.get(0, "attribute");
      const Value* start = a.get(1, "start");
      Value acc = start ? *start : Value::integer(0);
      for (auto& x : iterate(v)) acc = binary("+", acc, attr && !attr->is_none() ? attr_path(x, to_str(*attr)) : x);
      return acc;
    }
    if (name == "min" || name == "max") {
      a.check(name, 2, {"case_sensitive", "attribute"});
      const Value* cs = a.get(0, "case_sensitive");
      const Value* attr = a.get(1, "attribute");
      bool case_sens = cs && truthy(*cs);
      List items = iterate(v);
      if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
      auto key = [&](const Value& x) {
        return sort_key(attr && !attr->is_none() ? attr_path(x, to_str(*attr)) : x, case_sens);
      };
      size_t best = 0;
      for (size_t k = 1; k < items.size(); ++k) {
        bool better = name == "min" ? less_than(key(items[k]), key(items[best])) : less_than(key(items[best]), key(items[k]));
        if (better) best = k;
      }
      return items[best];
    }
    if (name == "attr") {
      if (a.pos.size() != 1) err("attr filter takes one argument");
      return get_attr(v, to_str(a.pos[0]));
    }
    if (name == "indent") {
      a.check("indent", 3, {"width", "first", "blank"});
      const Value* w = a.get(0, "width");
      const Value* f = a.get(1, "first");
      const Value* b = a.get(2, "blank");
      std::string ind = w ? (w->is_string() ? w->s : std::string(static_cast<size_t>(std::max<int64_t>(0, need_int(*w, "width"))), ' '))
                          : std::string(4, ' ');
      std::string s = str_of() + "\n";
      auto lines = py_splitlines(s, false);
      std::string rv;
      if (b && truthy(*b)) {
        for (size_t k = 0; k < lines.size(); ++k) rv += (k ? "\n" + ind : "") + lines[k];
      } else {
        rv = lines.empty() ? "" : lines[0];
        for (size_t k = 1; k < lines.size(); ++k) rv += "\n" + (lines[k].empty() ? "" : ind + lines[k]);
      }
      if (f && truthy(*f)) rv = ind + rv;
      return Value::string(rv);
    }
    if (name == "wordcount") {
      int64_t n = 0;
      bool in = false;
      for (uint32_t c : U(str_of())) {
        bool w = (c >= '0' && c <= '9') || c == '_' || py_isalpha(c);
        if (w && !in) ++n;
        in = w;
      }
      return Value::integer(n);
    }
    if (name == "format") {
      List args = a.pos;
      if (!a.kw.empty()) err("unsupported construct: format filter with keyword arguments");
      return Value::string(printf_format(str_of(), args.size() == 1 ? args[0] : Value::list(args, true)));
    }
    err("unsupported construct: no filter named '" + name + "'");
  }

  // ---- tests ----
  bool apply_test(const std::string& name, const Value& v, CallArgs& a) {
    auto arg = [&]() -> const Value& {
      if (a.pos.empty()) err("test '" + name + "' needs an argument");
      return a.pos[0];
    };
    if (name == "defined") return !v.is_undefined();
    if (name == "undefined") return v.is_undefined();
    if (name == "none") return v.is_none();
    if (name == "string") return v.is_string();
    if (name == "number") return v.is_number();
    if (name == "integer") return v.t == VT::Int;
    if (name == "float") return v.t == VT::Float;
    if (name == "boolean") return v.t == VT::Bool;
    if (name == "true") return v.t == VT::Bool && v.b;
    if (name == "false") return v.t == VT::Bool && !v.b;
    if (name == "mapping") return v.t == VT::Dict;
    if (name == "iterable") return v.t == VT::List || v.t == VT::Dict || v.t == VT::String || v.is_undefined();
    if (name == "sequence") return v.t == VT::List || v.t == VT::Dict || v.t == VT::String || v.is_undefined();
    if (name == "callable") return v.t == VT::Func;
    if (name == "escaped") return false;
    if (name == "even" || name == "odd") {
      v.check_defined();
      if (!v.is_int_like()) err("unsupported operand type(s) for %: '" + type_name(v) + "' and 'int'");
      int64_t m = v.as_int() % 2;
      return name == "even" ? m == 0 : m != 0;
    }
    if (name == "divisibleby") {
      const Value& n = arg();
      if (!v.is_int_like() || !n.is_int_like()) err("divisibleby needs integers");
      if (n.as_int() == 0) err("integer division or modulo by zero");
      return v.as_int() % n.as_int() == 0;
    }
    if (name == "eq" || name == "equalto" || name == "==") return equals(v, arg());
    if (name == "ne" || name == "!=") return !equals(v, arg());
    if (name == "lt" || name == "lessthan" || name == "<") return compare("<", v, arg());
    if (name == "le" || name == "<=") return compare("<=", v, arg());
    if (name == "gt" || name == "greaterthan" || name == ">") return compare(">", v, arg());
    if (name == "ge" || name == ">=") return compare(">=", v, arg());
    if (name == "in") return contains(arg(), v);
    if (name == "sameas") {
      const Value& o = arg();
      if (v.t != o.t) return false;
      if (v.t == VT::None || v.t == VT::Undefined) return true;
      if (v.t == VT::Bool) return v.b == o.b;
      if (v.t == VT::Int) return v.i == o.i && v.i >= -5 && v.i <= 256;  // CPython small-int cache
      if (v.t == VT::List || v.t == VT::Dict || v.t == VT::Namespace) return v.l == o.l && v.d == o.d;
      return false;
    }
    if (name == "lower" || name == "upper") {
      std::string s = to_str(v);
      return name == "lower" ? map_cps(s, py_lower) == s : map_cps(s, py_upper) == s;
    }
    if (name == "filter") return v.is_string() && is_known_filter(v.s);
    if (name == "test") return v.is_string() && is_known_test(v.s);
    err("unsupported construct: no test named '" + name + "'");
  }
};

}  // namespace

std::string render(const Body& body, const Value& context) {
  Interp in(context);
  return in.run(body);
}

}  // namespace prospect::chat::jinja
