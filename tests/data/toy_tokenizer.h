#pragma once
// Test-only tokenizer and chat template for the data tests: bytes are ids 0..255, "<eos>" = 256,
// "<bos>" = 257 (optional, prepended with add_special_tokens like a Llama tokenizer), and the one
// merge "ll" = 300 so that a prompt/completion boundary can change the tokens (BPE-merge case).
#include <string>
#include <vector>

#include "prospect/data/prepare.h"
#include "prospect/tokenizer/tokenizer.h"

namespace prospect::test {

class ToyTokenizer : public tokenizer::Tokenizer {
 public:
  explicit ToyTokenizer(bool with_bos = false, bool with_pad = false, std::string chat_template = "") {
    chat_template_ = std::move(chat_template);
    special_.eos = "<eos>";
    special_.eos_id = 256;
    if (with_bos) {
      special_.bos = "<bos>";
      special_.bos_id = 257;
      add_bos_token_ = true;
    }
    if (with_pad) {
      special_.pad = "<pad>";
      special_.pad_id = 258;
    }
  }
  std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = false) const override {
    std::vector<int64_t> ids;
    if (add_special_tokens && add_bos_token_) ids.push_back(257);
    for (size_t i = 0; i < text.size();) {
      if (text.compare(i, 5, "<eos>") == 0) {
        ids.push_back(256);
        i += 5;
      } else if (text.compare(i, 5, "<bos>") == 0) {
        ids.push_back(257);
        i += 5;
      } else if (text.compare(i, 2, "ll") == 0) {
        ids.push_back(300);
        i += 2;
      } else {
        ids.push_back((unsigned char)text[i++]);
      }
    }
    return ids;
  }
  std::vector<std::vector<int64_t>> encode_batch(const std::vector<std::string>& texts,
                                                 bool add_special_tokens = false) const override {
    std::vector<std::vector<int64_t>> out;
    for (const auto& t : texts) out.push_back(encode(t, add_special_tokens));
    return out;
  }
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const override {
    std::string s;
    for (int64_t id : ids) {
      if (id < 256) s += (char)id;
      else if (id == 300) s += "ll";
      else if (!skip_special_tokens) s += id == 256 ? "<eos>" : id == 257 ? "<bos>" : "<pad>";
    }
    return s;
  }
  int64_t vocab_size() const override { return 301; }
  std::optional<int64_t> token_to_id(const std::string&) const override { return std::nullopt; }
  std::optional<std::string> id_to_token(int64_t) const override { return std::nullopt; }
};

// "<role>content\n" per message; "[tools:N]" first when tools are given; "[kw:V]" for the
// template variable `kw`; "<assistant>" as the generation prompt.
inline std::string toy_render(const data::ojson& ctx) {
  std::string s;
  if (ctx.contains("tools") && ctx["tools"].is_array()) s += "[tools:" + std::to_string(ctx["tools"].size()) + "]";
  if (ctx.contains("kw")) s += "[kw:" + ctx["kw"].get<std::string>() + "]";
  for (const auto& m : ctx["messages"]) s += "<" + m["role"].get<std::string>() + ">" + m["content"].get<std::string>() + "\n";
  if (ctx.value("add_generation_prompt", false)) s += "<assistant>";
  return s;
}

// A template whose generation prompt differs from the rendered assistant turn: prompt never a prefix.
inline std::string broken_render(const data::ojson& ctx) {
  std::string s;
  for (const auto& m : ctx["messages"]) s += "<" + m["role"].get<std::string>() + ">" + m["content"].get<std::string>() + "\n";
  if (ctx.value("add_generation_prompt", false)) s += "<bot>";
  return s;
}

inline std::vector<int64_t> bytes(const std::string& s) {
  std::vector<int64_t> v;
  for (unsigned char c : s) v.push_back(c);
  return v;
}

}  // namespace prospect::test
