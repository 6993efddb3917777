#include "jinja_value.h"

#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cwctype>
#include <locale.h>

namespace prospect::chat::jinja {

Value Value::list(List x, bool tuple) {
  Value v;
  v.t = VT::List;
  v.tuple = tuple;
  v.l = std::make_shared<const List>(std::move(x));
  return v;
}
Value Value::dict(Dict x) {
  Value v;
  v.t = VT::Dict;
  v.d = std::make_shared<Dict>(std::move(x));
  return v;
}
Value Value::ns(Dict x) {
  Value v;
  v.t = VT::Namespace;
  v.d = std::make_shared<Dict>(std::move(x));
  return v;
}
Value Value::func(std::string name, Func f) {
  Value v;
  v.t = VT::Func;
  v.s = std::move(name);
  v.fn = std::make_shared<const Func>(std::move(f));
  return v;
}

void Value::check_defined() const {
  if (t == VT::Undefined) throw JinjaError(s.empty() ? "value is undefined" : s);
}

const Value* Dict::find(const std::string& k) const {
  for (auto& kv : items)
    if (kv.first == k) return &kv.second;
  return nullptr;
}
void Dict::set(const std::string& k, Value v) {
  for (auto& kv : items)
    if (kv.first == k) {
      kv.second = std::move(v);
      return;
    }
  items.emplace_back(k, std::move(v));
}

const Value* CallArgs::get(size_t index, const char* name) const {
  if (index < pos.size()) return &pos[index];
  if (name)
    for (auto& kv : kw)
      if (kv.first == name) return &kv.second;
  return nullptr;
}
void CallArgs::check(const std::string& callee, size_t max_pos, std::initializer_list<const char*> names) const {
  if (pos.size() > max_pos)
    throw JinjaError(callee + "() takes at most " + std::to_string(max_pos) + " positional arguments (" +
                     std::to_string(pos.size()) + " given)");
  for (auto& kv : kw) {
    bool ok = false;
    for (const char* n : names) ok = ok || kv.first == n;
    if (!ok) throw JinjaError(callee + "() got an unexpected keyword argument '" + kv.first + "'");
  }
}

bool truthy(const Value& v) {
  switch (v.t) {
    case VT::Undefined: case VT::None: return false;
    case VT::Bool: return v.b;
    case VT::Int: return v.i != 0;
    case VT::Float: return v.f != 0.0;
    case VT::String: return !v.s.empty();
    case VT::List: return !v.l->empty();
    case VT::Dict: return !v.d->items.empty();
    case VT::Namespace: case VT::Func: return true;
  }
  return false;
}

std::string py_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  // buf: [-]D[.DDD]e[+-]XX -> digits and decimal exponent, then Python's repr layout.
  std::string s(buf), digits;
  bool neg = s[0] == '-';
  size_t epos = s.find('e');
  for (size_t k = neg ? 1 : 0; k < epos; ++k)
    if (s[k] != '.') digits += s[k];
  int exp = std::atoi(s.c_str() + epos + 1);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = neg ? "-" : "";
  int nd = static_cast<int>(digits.size());
  if (exp >= -5 + 1 && exp < 16) {  // Python: repr uses fixed notation for -4 <= exp < 16
    if (exp < 0) {
      out += "0." + std::string(-exp - 1, '0') + digits;
    } else if (exp + 1 >= nd) {
      out += digits + std::string(exp + 1 - nd, '0') + ".0";
    } else {
      out += digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
    }
  } else {
    out += digits.substr(0, 1);
    if (nd > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += eb;
  }
  return out;
}

// ---- UTF-8 ----
std::vector<uint32_t> decode_utf8(const std::string& s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = s[i];
    uint32_t cp;
    int len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 6) { cp = c & 0x1f; len = 2; }
    else if ((c >> 4) == 14) { cp = c & 0x0f; len = 3; }
    else if ((c >> 3) == 30) { cp = c & 0x07; len = 4; }
    else { out.push_back(0xFFFD); ++i; continue; }
    if (i + len > n) { out.push_back(0xFFFD); ++i; continue; }
    bool ok = true;
    for (int k = 1; k < len; ++k) {
      unsigned char cc = s[i + k];
      if ((cc >> 6) != 2) { ok = false; break; }
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (!ok) { out.push_back(0xFFFD); ++i; continue; }
    out.push_back(cp);
    i += len;
  }
  return out;
}
void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) out += static_cast<char>(cp);
  else if (cp < 0x800) { out += static_cast<char>(0xC0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3f)); }
  else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}
std::string encode_utf8(const std::vector<uint32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (uint32_t cp : cps) append_utf8(out, cp);
  return out;
}
size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}
bool is_py_space(uint32_t c) {
  return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}
static locale_t utf8_locale() {
  static locale_t loc = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (!l) l = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", (locale_t)0);
    return l;
  }();
  return loc;
}
uint32_t py_upper(uint32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  locale_t l = utf8_locale();
  return l ? static_cast<uint32_t>(towupper_l(static_cast<wint_t>(c), l)) : c;
}
uint32_t py_lower(uint32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  locale_t l = utf8_locale();
  return l ? static_cast<uint32_t>(towlower_l(static_cast<wint_t>(c), l)) : c;
}
bool py_isalpha(uint32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  locale_t l = utf8_locale();
  return l ? iswalpha_l(static_cast<wint_t>(c), l) != 0 : false;
}

// Code points Python's repr escapes (str.isprintable() false): controls, separators other than
// space, and the common format characters.
static bool py_unprintable(uint32_t c) {
  return c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad || c == 0x1680 || (c >= 0x2000 && c <= 0x200f) ||
         (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x2064) || c == 0x3000 || c == 0xfeff ||
         (c >= 0xd800 && c <= 0xdfff);
}

static std::string repr_string(const std::string& s) {
  bool has_sq = s.find('\'') != std::string::npos, has_dq = s.find('"') != std::string::npos;
  char q = (has_sq && !has_dq) ? '"' : '\'';
  std::string out(1, q);
  for (uint32_t c : decode_utf8(s)) {
    if (c == static_cast<uint32_t>(q) || c == '\\') { out += '\\'; out += static_cast<char>(c); }
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (py_unprintable(c)) {
      char b[16];
      if (c < 0x100) std::snprintf(b, sizeof b, "\\x%02x", c);
      else std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else append_utf8(out, c);
  }
  out += q;
  return out;
}

std::string py_repr(const Value& v) {
  switch (v.t) {
    case VT::String: return repr_string(v.s);
    case VT::List: {
      std::string out = v.tuple ? "(" : "[";
      for (size_t k = 0; k < v.l->size(); ++k) {
        if (k) out += ", ";
        out += py_repr((*v.l)[k]);
      }
      if (v.tuple && v.l->size() == 1) out += ",";
      return out + (v.tuple ? ")" : "]");
    }
    case VT::Dict: {
      std::string out = "{";
      bool first = true;
      for (auto& kv : v.d->items) {
        if (!first) out += ", ";
        first = false;
        out += repr_string(kv.first) + ": " + py_repr(kv.second);
      }
      return out + "}";
    }
    case VT::Undefined: return "Undefined";
    default: return to_str(v);
  }
}

std::string to_str(const Value& v) {
  switch (v.t) {
    case VT::Undefined: return "";
    case VT::None: return "None";
    case VT::Bool: return v.b ? "True" : "False";
    case VT::Int: return std::to_string(v.i);
    case VT::Float: return py_float_repr(v.f);
    case VT::String: return v.s;
    case VT::Namespace: {
      std::string out = "<Namespace {";
      bool first = true;
      for (auto& kv : v.d->items) {
        if (!first) out += ", ";
        first = false;
        out += repr_string(kv.first) + ": " + py_repr(kv.second);
      }
      return out + "}>";
    }
    case VT::Func: return "<function " + v.s + ">";
    default: return py_repr(v);
  }
}

std::string type_name(const Value& v) {
  switch (v.t) {
    case VT::Undefined: return "Undefined";
    case VT::None: return "NoneType";
    case VT::Bool: return "bool";
    case VT::Int: return "int";
    case VT::Float: return "float";
    case VT::String: return "str";
    case VT::List: return v.tuple ? "tuple" : "list";
    case VT::Dict: return "dict";
    case VT::Namespace: return "Namespace";
    case VT::Func: return "function";
  }
  return "object";
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.t == VT::Float || b.t == VT::Float) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.t != b.t) return false;
  switch (a.t) {
    case VT::Undefined: case VT::None: return true;
    case VT::String: return a.s == b.s;
    case VT::List: {
      if (a.tuple != b.tuple || a.l->size() != b.l->size()) return false;
      for (size_t k = 0; k < a.l->size(); ++k)
        if (!equals((*a.l)[k], (*b.l)[k])) return false;
      return true;
    }
    case VT::Dict: {
      if (a.d->items.size() != b.d->items.size()) return false;
      for (auto& kv : a.d->items) {
        const Value* o = b.d->find(kv.first);
        if (!o || !equals(kv.second, *o)) return false;
      }
      return true;
    }
    default: return a.d == b.d && a.fn == b.fn;
  }
}

bool less_than(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.t == VT::Float || b.t == VT::Float) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.t == VT::String && b.t == VT::String) return decode_utf8(a.s) < decode_utf8(b.s);
  if (a.t == VT::List && b.t == VT::List) {
    size_t n = std::min(a.l->size(), b.l->size());
    for (size_t k = 0; k < n; ++k) {
      if (!equals((*a.l)[k], (*b.l)[k])) return less_than((*a.l)[k], (*b.l)[k]);
    }
    return a.l->size() < b.l->size();
  }
  throw JinjaError("'<' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

static void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else out += static_cast<char>(c);
    }
  }
  out += '"';
}

static void json_dump(std::string& out, const Value& v, const std::string* indent, int level,
                      const std::string& item_sep, const std::string& key_sep, bool sort_keys) {
  auto newline = [&](int lvl) {
    out += '\n';
    for (int k = 0; k < lvl; ++k) out += *indent;
  };
  switch (v.t) {
    case VT::None: out += "null"; return;
    case VT::Bool: out += v.b ? "true" : "false"; return;
    case VT::Int: out += std::to_string(v.i); return;
    case VT::Float:
      if (std::isnan(v.f)) out += "NaN";
      else if (std::isinf(v.f)) out += v.f < 0 ? "-Infinity" : "Infinity";
      else out += py_float_repr(v.f);
      return;
    case VT::String: json_string(out, v.s); return;
    case VT::List: {
      if (v.l->empty()) { out += "[]"; return; }
      out += '[';
      for (size_t k = 0; k < v.l->size(); ++k) {
        if (k) out += item_sep;
        if (indent) newline(level + 1);
        json_dump(out, (*v.l)[k], indent, level + 1, item_sep, key_sep, sort_keys);
      }
      if (indent) newline(level);
      out += ']';
      return;
    }
    case VT::Dict: {
      if (v.d->items.empty()) { out += "{}"; return; }
      std::vector<const std::pair<std::string, Value>*> items;
      for (auto& kv : v.d->items) items.push_back(&kv);
      if (sort_keys)
        std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out += '{';
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += item_sep;
        if (indent) newline(level + 1);
        json_string(out, items[k]->first);
        out += key_sep;
        json_dump(out, items[k]->second, indent, level + 1, item_sep, key_sep, sort_keys);
      }
      if (indent) newline(level);
      out += '}';
      return;
    }
    default:
      throw JinjaError("Object of type " + type_name(v) + " is not JSON serializable");
  }
}

std::string to_json(const Value& v, const std::string* indent, const std::string& item_sep,
                    const std::string& key_sep, bool sort_keys) {
  std::string out;
  json_dump(out, v, indent, 0, item_sep, key_sep, sort_keys);
  return out;
}

template <class J>
static Value from_json_impl(const J& j) {
  switch (j.type()) {
    case J::value_t::null: return Value::none();
    case J::value_t::boolean: return Value::boolean(j.template get<bool>());
    case J::value_t::number_integer: return Value::integer(j.template get<int64_t>());
    case J::value_t::number_unsigned: return Value::integer(static_cast<int64_t>(j.template get<uint64_t>()));
    case J::value_t::number_float: return Value::number(j.template get<double>());
    case J::value_t::string: return Value::string(j.template get<std::string>());
    case J::value_t::array: {
      List l;
      l.reserve(j.size());
      for (auto& e : j) l.push_back(from_json_impl(e));
      return Value::list(std::move(l));
    }
    case J::value_t::object: {
      Dict d;
      d.items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) d.items.emplace_back(it.key(), from_json_impl(it.value()));
      return Value::dict(std::move(d));
    }
    default: return Value::none();
  }
}
Value from_json(const nlohmann::json& j) { return from_json_impl(j); }
Value from_json(const nlohmann::ordered_json& j) { return from_json_impl(j); }

}  // namespace prospect::chat::jinja
