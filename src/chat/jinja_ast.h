#pragma once
// Syntax tree of a Jinja template (the subset used by Hugging Face chat templates).
#include <memory>
#include <string>
#include <vector>

#include "jinja_value.h"

namespace prospect::chat::jinja {

struct Expr;
using ExprP = std::unique_ptr<Expr>;

enum class EK {
  Literal, Name, ListLit, TupleLit, DictLit, GetAttr, GetItem, Slice, Call, Filter, Test, Neg, Pos, Not,
  And, Or, Binary, Compare, Cond
};

struct Kwarg {
  std::string name;
  ExprP value;
};

struct Expr {
  EK kind;
  int line = 0;
  Value value;                     // Literal
  std::string name;                // Name, GetAttr attribute, Filter/Test name, Binary op
  std::vector<ExprP> items;        // ListLit/TupleLit items, DictLit keys/values interleaved, Call/Filter/Test args
  std::vector<Kwarg> kwargs;       // Call/Filter/Test keyword args
  ExprP a, b, c;                   // operands: object/callee/lhs, index/rhs/then, step/else
  std::vector<std::string> ops;    // Compare operators ("==", "in", "notin", ...)
  bool negated = false;            // Test: "is not"
  int depth = 1;                   // 1 + the deepest operand's depth (the parser bounds it)
  Expr(EK k, int ln) : kind(k), line(ln) {}
};

struct Stmt;
using StmtP = std::unique_ptr<Stmt>;
using Body = std::vector<StmtP>;

enum class SK { Text, Emit, If, For, Set, SetBlock, Macro, CallBlock, FilterBlock, Break, Continue, With, Scope };

struct Stmt {
  SK kind;
  int line = 0;
  std::string text;                   // Text
  ExprP expr;                         // Emit / For iterable / Set value / CallBlock call
  std::vector<std::pair<ExprP, Body>> branches;  // If
  Body body, else_body;               // For / SetBlock / Macro / CallBlock / FilterBlock / With / Scope
  // Assignment target: names (several = tuple unpacking); attr non-empty -> names[0].attr (namespace).
  std::vector<std::string> names;
  std::string attr;
  ExprP cond;                         // For: loop filter
  ExprP filter;                       // SetBlock / FilterBlock: a Filter expression chain applied to the body (a = null)
  std::vector<std::pair<std::string, ExprP>> params;  // Macro / CallBlock parameters (default may be null); With assignments
  Stmt(SK k, int ln) : kind(k), line(ln) {}
};

// Parses template source (already newline-normalized inside). Errors: prospect::Error "chat template
// line N: ...".
Body parse_template(const std::string& source);

}  // namespace prospect::chat::jinja
