#pragma once
// Values of the Jinja interpreter, modelled on the Python objects jinja2 works with: Undefined, None,
// bool, int, float, str, list/tuple, dict (insertion ordered), namespace, and callables. Containers are
// shared and never mutated after construction (transformers uses the immutable sandbox), except
// namespace attributes.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace prospect::chat::jinja {

// A render-time failure; the interpreter adds the template line.
struct JinjaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// raise_exception(msg) from the template.
struct RaiseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Value;
using List = std::vector<Value>;
struct Dict;
struct CallArgs;
using Func = std::function<Value(CallArgs&)>;

enum class VT : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Func };

struct Value {
  VT t = VT::Undefined;
  bool tuple = false;  // a List printed as a Python tuple
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;  // String payload; Undefined: the hint raised on use; Func: its name
  std::shared_ptr<const List> l;
  std::shared_ptr<Dict> d;  // Dict or Namespace
  std::shared_ptr<const Func> fn;

  Value() = default;
  static Value undefined(std::string hint) { Value v; v.s = std::move(hint); return v; }
  static Value none() { Value v; v.t = VT::None; return v; }
  static Value boolean(bool x) { Value v; v.t = VT::Bool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.t = VT::Int; v.i = x; return v; }
  static Value number(double x) { Value v; v.t = VT::Float; v.f = x; return v; }
  static Value string(std::string x) { Value v; v.t = VT::String; v.s = std::move(x); return v; }
  static Value list(List x, bool tuple = false);
  static Value dict(Dict x);
  static Value ns(Dict x);
  static Value func(std::string name, Func f);

  bool is_undefined() const { return t == VT::Undefined; }
  bool is_none() const { return t == VT::None; }
  bool is_string() const { return t == VT::String; }
  bool is_list() const { return t == VT::List; }
  bool is_dict() const { return t == VT::Dict; }
  bool is_mapping() const { return t == VT::Dict || t == VT::Namespace; }
  bool is_int_like() const { return t == VT::Int || t == VT::Bool; }  // Python bool is an int
  bool is_number() const { return t == VT::Int || t == VT::Bool || t == VT::Float; }
  int64_t as_int() const { return t == VT::Bool ? (b ? 1 : 0) : i; }
  double as_double() const { return t == VT::Float ? f : static_cast<double>(as_int()); }
  // Throws jinja2's UndefinedError text when undefined.
  void check_defined() const;
};

struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  const Value* find(const std::string& k) const;
  void set(const std::string& k, Value v);
};

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // Argument by position or keyword; nullptr when absent.
  const Value* get(size_t index, const char* name) const;
  // Errors on unexpected keywords / too many positionals (names the callable).
  void check(const std::string& callee, size_t max_pos, std::initializer_list<const char*> names) const;
};

// Python truthiness (Undefined is falsy).
bool truthy(const Value& v);
// str(v) as jinja2 prints it ({{ v }}, ~, join): Undefined -> "", None -> "None", floats as repr.
std::string to_str(const Value& v);
// repr(v) (strings quoted), as Python prints containers.
std::string py_repr(const Value& v);
std::string py_float_repr(double d);
// Python type names for messages ("dict", "str", ...).
std::string type_name(const Value& v);
// Python ==.
bool equals(const Value& a, const Value& b);
// Python <, for sorting and comparisons; throws on unorderable types.
bool less_than(const Value& a, const Value& b);

// json.dumps(v, ensure_ascii=False, indent=indent, separators=..., sort_keys=...) as transformers'
// tojson. indent: nullptr -> single line with ", " / ": ".
std::string to_json(const Value& v, const std::string* indent, const std::string& item_sep,
                    const std::string& key_sep, bool sort_keys);

Value from_json(const nlohmann::json& j);
Value from_json(const nlohmann::ordered_json& j);

// UTF-8 helpers (Python strings index code points).
std::vector<uint32_t> decode_utf8(const std::string& s);
std::string encode_utf8(const std::vector<uint32_t>& cps);
void append_utf8(std::string& out, uint32_t cp);
size_t utf8_length(const std::string& s);
bool is_py_space(uint32_t cp);
uint32_t py_upper(uint32_t cp);
uint32_t py_lower(uint32_t cp);
bool py_isalpha(uint32_t cp);

}  // namespace prospect::chat::jinja
