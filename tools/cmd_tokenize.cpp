// `prospect tokenize`: encode text (--text, or --input JSONL with {"text": ...} per line) to
// {"ids": [...]} lines, or decode --decode 1,2,3 to {"text": ...}.
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

#include "command.h"
#include "hub_option.h"
#include "prospect/core/error.h"
#include "prospect/tokenizer/tokenizer.h"

namespace prospect::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer, text, input, decode;
  bool add_special_tokens = false, skip_special_tokens = false;
};

std::vector<int64_t> parse_ids(const std::string& s) {
  std::vector<int64_t> ids;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
    if (a == std::string::npos) throw Error("--decode", "empty id in '" + s + "'");
    item = item.substr(a, b - a + 1);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size()) throw Error("--decode", "'" + item + "' is not an integer id");
    ids.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return ids;
}

int run_tokenize(const TokenizeOptions& o) {
  int modes = !o.text.empty() + !o.input.empty() + !o.decode.empty();
  if (modes != 1) throw Error("tokenize", "give exactly one of --text, --input or --decode");
  auto tok = tokenizer::Tokenizer::load(o.tokenizer);
  if (!o.decode.empty()) {
    auto ids = parse_ids(o.decode);
    // HF's Rust decoder skips unknown ids silently; a typo would then decode to a plausible text.
    for (auto id : ids)
      if (id < 0 || !tok->id_to_token(id))
        throw Error("--decode", "id " + std::to_string(id) + " is not in the tokenizer's vocabulary (" +
                                    std::to_string(tok->vocab_size()) + " tokens)");
    std::cout << nlohmann::json{{"text", tok->decode(ids, o.skip_special_tokens)}}.dump() << "\n";
    return 0;
  }
  if (!o.text.empty()) {
    std::cout << nlohmann::json{{"ids", tok->encode(o.text, o.add_special_tokens)}}.dump() << "\n";
    return 0;
  }
  std::ifstream in(o.input, std::ios::binary);
  if (!in) throw Error(o.input, "cannot open");
  std::vector<std::string> texts;
  std::string line;
  for (size_t lineno = 1; std::getline(in, line); ++lineno) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines carry no record
    std::string ctx = o.input + ":" + std::to_string(lineno);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      throw Error(ctx, std::string("invalid JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
      throw Error(ctx, "expected an object with a string \"text\"");
    texts.push_back(j["text"].get<std::string>());
  }
  auto all = tok->encode_batch(texts, o.add_special_tokens);
  std::string out;
  for (const auto& ids : all) out += nlohmann::json{{"ids", ids}}.dump() + "\n";
  std::cout << out;
  return 0;
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  app.add_option("--tokenizer", o->tokenizer, "directory with tokenizer.json or tokenizer.model")->transform(prospect::cli::hub_path())->required();
  app.add_option("--text", o->text, "text to encode; prints {\"ids\": [...]}");
  app.add_option("--input", o->input, "JSONL file, one {\"text\": ...} per line; prints one {\"ids\": [...]} per line");
  app.add_option("--decode", o->decode, "comma-separated ids to decode; prints {\"text\": ...}");
  app.add_flag("--add-special-tokens", o->add_special_tokens, "apply the post-processor (e.g. BOS)");
  app.add_flag("--skip-special-tokens", o->skip_special_tokens, "with --decode: drop special tokens");
  return [o] { return run_tokenize(*o); };
}

}  // namespace
PROSPECT_COMMAND("tokenize", "encode or decode text with a Hugging Face tokenizer", setup);
}  // namespace prospect::cli
