#include "prospect/data/reader.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/data/sources.h"
#include "prospect/io/parquet.h"

namespace prospect::data {

namespace {

const char* kind_name(const ojson& v) {
  if (v.is_string()) return "a string";
  if (v.is_array()) return "a message list";
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  return "an object";
}

// A field that must be a string or a list of {role, content} messages.
void check_text_field(const ojson& v, const std::string& name) {
  if (v.is_string()) return;
  if (!v.is_array())
    throw Error("", "field '" + name + "': expected a string or a list of {role, content} messages, got " +
                        std::string(kind_name(v)));
  for (size_t i = 0; i < v.size(); ++i) {
    const ojson& m = v[i];
    std::string where = "field '" + name + "'[" + std::to_string(i) + "]";
    if (!m.is_object()) throw Error("", where + ": expected a {role, content} message object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) throw Error("", where + ": missing string 'role'");
    auto content = m.find("content");
    bool has_calls = m.contains("tool_calls") && !m["tool_calls"].is_null();
    if (content == m.end() || content->is_null()) {
      if (!has_calls) throw Error("", where + ": missing 'content'");
    } else if (!content->is_string() && !content->is_array()) {
      throw Error("", where + ": 'content' must be a string");
    }
  }
}

bool is_empty_completion(const ojson& v) {
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  if (v.empty()) return true;
  for (const auto& m : v) {
    if (m.contains("tool_calls") && !m["tool_calls"].is_null()) return false;
    const auto& c = m.contains("content") ? m["content"] : ojson();
    if (c.is_string() && !c.get_ref<const std::string&>().empty()) return false;
    if (c.is_array() && !c.empty()) return false;
  }
  return true;
}

// A required field: present and not null.
const ojson& require(const ojson& obj, const std::string& name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) throw Error("", "missing field '" + name + "'");
  return *it;
}

bool has(const ojson& obj, const std::string& name) {
  auto it = obj.find(name);
  return it != obj.end() && !it->is_null();
}

// `prefix` (messages) equals the first prefix.size() messages of `v`, and v is longer.
bool strict_message_prefix(const ojson& prefix, const ojson& v) {
  if (!v.is_array() || v.size() <= prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (prefix[i] != v[i]) return false;
  return true;
}

ojson slice(const ojson& arr, size_t from, size_t to) {
  ojson out = ojson::array();
  for (size_t i = from; i < to && i < arr.size(); ++i) out.push_back(arr[i]);
  return out;
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// nlohmann's parse_error text without its "[json.exception...] parse error at line 1, column N: ".
std::string short_parse_error(const nlohmann::json::parse_error& e) {
  std::string m = e.what();
  auto col = m.find("column ");
  if (col != std::string::npos) {
    auto colon = m.find(": ", col);
    if (colon != std::string::npos) return m.substr(colon + 2);
  }
  auto br = m.find("] ");
  return br == std::string::npos ? m : m.substr(br + 2);
}

}  // namespace

ExtractedPrompt extract_prompt(const ojson& chosen, const ojson& rejected) {
  ExtractedPrompt out;
  if (chosen.is_string() && rejected.is_string()) {
    const std::string& c = chosen.get_ref<const std::string&>();
    const std::string& r = rejected.get_ref<const std::string&>();
    size_t n = std::min(c.size(), r.size());
    size_t d = 0;
    while (d < n && c[d] == r[d]) ++d;
    size_t idx;
    if (d < n) {
      // First differing code point starts at or before byte d.
      idx = d;
      while (idx > 0 && is_continuation((unsigned char)c[idx])) --idx;
      if (idx > 0 && c[idx - 1] == ' ') --idx;
    } else {
      // One is a prefix of the other: TRL's loop ends with idx = min_len - 1 (in code points).
      idx = n;
      if (idx > 0) {
        --idx;
        while (idx > 0 && is_continuation((unsigned char)c[idx])) --idx;
      }
    }
    out.prompt = c.substr(0, idx);
    out.chosen = c.substr(idx);
    out.rejected = r.substr(idx);
    return out;
  }
  if (chosen.is_array() && rejected.is_array()) {
    size_t n = std::min(chosen.size(), rejected.size());
    size_t d = 0;
    while (d < n && chosen[d] == rejected[d]) ++d;
    size_t idx = d < n ? d : (n > 0 ? n - 1 : 0);
    out.prompt = slice(chosen, 0, idx);
    out.chosen = slice(chosen, idx, chosen.size());
    out.rejected = slice(rejected, idx, rejected.size());
    return out;
  }
  throw Error("", std::string("cannot extract a prompt: chosen is ") + kind_name(chosen) + " and rejected is " +
                      kind_name(rejected));
}

RawRow parse_row(const ojson& obj, const std::string& source, int64_t row_number) {
  try {
    if (!obj.is_object()) throw Error("", std::string("row is not a JSON object but ") + kind_name(obj));
    RawRow row;
    row.source = source;
    row.row = row_number;

    if (has(obj, "tools")) {
      ojson t = obj["tools"];
      if (t.is_string()) {
        try {
          t = ojson::parse(t.get<std::string>());
        } catch (const nlohmann::json::parse_error& e) {
          throw Error("", "field 'tools': string is not valid JSON: " + short_parse_error(e));
        }
      }
      if (!t.is_array()) throw Error("", "field 'tools': expected a list of tools");
      row.tools = t;
    }
    if (has(obj, "chat_template_kwargs")) {
      if (!obj["chat_template_kwargs"].is_object())
        throw Error("", "field 'chat_template_kwargs': expected an object");
      row.chat_template_kwargs = obj["chat_template_kwargs"];
    }

    const bool paired = obj.contains("chosen") || obj.contains("rejected");
    const bool unpaired = obj.contains("completion") || obj.contains("label");
    if (!paired && !unpaired)
      throw Error("", "no 'chosen'/'rejected' (paired) or 'completion'/'label' (unpaired) fields");
    row.paired = paired;

    if (paired) {
      const ojson& chosen = require(obj, "chosen");
      const ojson& rejected = require(obj, "rejected");
      check_text_field(chosen, "chosen");
      check_text_field(rejected, "rejected");
      if (chosen.is_string() != rejected.is_string())
        throw Error("", std::string("mixed fields: chosen is ") + kind_name(chosen) + ", rejected is " +
                            kind_name(rejected));
      if (!has(obj, "prompt")) {
        ExtractedPrompt e = extract_prompt(chosen, rejected);
        row.prompt = std::move(e.prompt);
        row.chosen = std::move(e.chosen);
        row.rejected = std::move(e.rejected);
      } else {
        const ojson& prompt = obj["prompt"];
        check_text_field(prompt, "prompt");
        if (prompt.is_string() && chosen.is_array()) {
          // UltraFeedback Binarized: the string prompt repeats the user turn that chosen/rejected
          // carry; the conversational prompt is their common leading messages.
          ExtractedPrompt e = extract_prompt(chosen, rejected);
          row.prompt = std::move(e.prompt);
          row.chosen = std::move(e.chosen);
          row.rejected = std::move(e.rejected);
        } else if (prompt.is_array() && chosen.is_array()) {
          row.prompt = prompt;
          if (strict_message_prefix(prompt, chosen) && strict_message_prefix(prompt, rejected)) {
            row.chosen = slice(chosen, prompt.size(), chosen.size());
            row.rejected = slice(rejected, prompt.size(), rejected.size());
          } else {
            row.chosen = chosen;
            row.rejected = rejected;
          }
        } else if (prompt.is_string() && chosen.is_string()) {
          row.prompt = prompt;
          row.chosen = chosen;
          row.rejected = rejected;
        } else {
          throw Error("", std::string("mixed fields: prompt is ") + kind_name(prompt) + ", chosen is " +
                              kind_name(chosen));
        }
      }
      row.conversational = row.chosen.is_array();
      if (row.conversational && row.prompt.empty())
        throw Error("", "cannot extract the prompt: chosen and rejected share no leading messages");
      if (is_empty_completion(row.chosen)) throw Error("", "empty completion in 'chosen'");
      if (is_empty_completion(row.rejected)) throw Error("", "empty completion in 'rejected'");
      return row;
    }

    const ojson& prompt = require(obj, "prompt");
    const ojson& completion = require(obj, "completion");
    const ojson& label = require(obj, "label");
    check_text_field(prompt, "prompt");
    check_text_field(completion, "completion");
    if (!label.is_boolean())
      throw Error("", std::string("field 'label': expected a boolean, got ") + kind_name(label));
    if (prompt.is_string() != completion.is_string())
      throw Error("", std::string("mixed fields: prompt is ") + kind_name(prompt) + ", completion is " +
                          kind_name(completion));
    row.label = label.get<bool>();
    row.prompt = prompt;
    if (prompt.is_array() && strict_message_prefix(prompt, completion))
      row.completion = slice(completion, prompt.size(), completion.size());
    else
      row.completion = completion;
    row.conversational = row.completion.is_array();
    if (row.conversational && row.prompt.empty()) throw Error("", "empty prompt message list");
    if (is_empty_completion(row.completion)) throw Error("", "empty completion");
    return row;
  } catch (const Error& e) {
    throw Error(source, e.what());
  }
}

void for_each_json_row(const std::filesystem::path& path,
                       const std::function<void(const std::string&, const std::string&)>& fn) {
  const std::string text = read_text_file(path);
  const std::string name = path.string();
  size_t p = 0;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) p = 3;  // UTF-8 BOM
  size_t line = 1;
  auto skip_ws = [&]() {
    while (p < text.size() && (text[p] == ' ' || text[p] == '\t' || text[p] == '\r' || text[p] == '\n')) {
      if (text[p] == '\n') ++line;
      ++p;
    }
  };
  skip_ws();
  if (p < text.size() && text[p] == '[') {
    // A JSON array: split it into its top-level elements, remembering each element's first line.
    ++p;
    while (true) {
      skip_ws();
      if (p >= text.size()) throw Error(name + ":" + std::to_string(line), "unterminated JSON array");
      if (text[p] == ']') break;
      const size_t start = p, start_line = line;
      int depth = 0;
      bool in_str = false;
      for (; p < text.size(); ++p) {
        char c = text[p];
        if (c == '\n') ++line;
        if (in_str) {
          if (c == '\\') {
            ++p;
          } else if (c == '"') {
            in_str = false;
          }
          continue;
        }
        if (c == '"') {
          in_str = true;
        } else if (c == '{' || c == '[') {
          ++depth;
        } else if (c == '}' || c == ']') {
          if (depth == 0) break;  // the array's closing bracket
          --depth;
        } else if (c == ',' && depth == 0) {
          break;
        }
      }
      if (p >= text.size())
        throw Error(name + ":" + std::to_string(start_line), "unterminated JSON array element");
      fn(text.substr(start, p - start), name + ":" + std::to_string(start_line));
      if (text[p] == ',') ++p;
    }
    ++p;
    skip_ws();
    if (p < text.size()) throw Error(name + ":" + std::to_string(line), "unexpected text after the JSON array");
    return;
  }
  // JSONL: one row per non-blank line.
  p = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  line = 1;
  while (p < text.size()) {
    size_t e = text.find('\n', p);
    if (e == std::string::npos) e = text.size();
    std::string l = text.substr(p, e - p);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    bool blank = l.find_first_not_of(" \t") == std::string::npos;
    if (!blank) fn(l, name + ":" + std::to_string(line));
    ++line;
    p = e + 1;
  }
}

ReadResult read_rows(const std::vector<std::filesystem::path>& entries, bool skip_bad_rows) {
  ReadResult out;
  // One row: parse and validate, or (skip_bad_rows) count and remember the error.
  auto add = [&](const std::function<RawRow(int64_t row_number)>& make) {
    const int64_t row_number = out.total_rows++;
    try {
      out.rows.push_back(make(row_number));
    } catch (const Error& e) {
      if (!skip_bad_rows) throw;
      ++out.bad_rows;
      if (out.bad_row_messages.size() < 10) out.bad_row_messages.push_back(e.what());
      spdlog::debug("skipping bad row: {}", e.what());
    }
  };
  for (const auto& path : expand_data_files(entries)) {
    if (is_parquet_file(path)) {
      // Only the columns the schema uses are decoded; each row group is freed once its rows are parsed.
      io::for_each_parquet_row(path, preference_columns(), [&](ojson&& obj, int64_t i) {
        const std::string source = path.string() + ":row " + std::to_string(i + 1);
        add([&](int64_t row_number) { return parse_row(obj, source, row_number); });
      });
      continue;
    }
    for_each_json_row(path, [&](const std::string& text, const std::string& source) {
      add([&](int64_t row_number) {
        ojson obj;
        try {
          obj = ojson::parse(text);
        } catch (const nlohmann::json::parse_error& e) {
          // Elements of a JSON array may span lines: point at the line of the error.
          size_t extra = 0;
          for (size_t i = 0; i < e.byte && i < text.size(); ++i) extra += text[i] == '\n';
          std::string src = source;
          if (extra > 0) {
            auto colon = source.rfind(':');
            src = source.substr(0, colon) + ":" + std::to_string(std::stoll(source.substr(colon + 1)) + (int64_t)extra);
          }
          throw Error(src, "malformed JSON: " + short_parse_error(e));
        }
        return parse_row(obj, source, row_number);
      });
    });
  }
  return out;
}

}  // namespace prospect::data
