// Tokenizer::load (tokenizer.json or tokenizer.model, plus tokenizer_config.json and
// chat_template.jinja) and the threaded encode_batch shared by all implementations.
#include "prospect/tokenizer/tokenizer.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/tokenizer/hf_tokenizer.h"

namespace prospect::tokenizer {

using nlohmann::json;

namespace {
// A special token given as "str", {"content": "str", ...} or null.
std::optional<std::string> token_string(const json& cfg, const std::string& key, const std::string& ctx) {
  if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  throw Error(ctx, "'" + key + "' must be a string, {\"content\": ...} or null");
}
}  // namespace

std::shared_ptr<Tokenizer> Tokenizer::load(const std::filesystem::path& dir) {
  std::shared_ptr<Tokenizer> tok;
  auto tj = dir / "tokenizer.json", tm = dir / "tokenizer.model";
  if (!std::filesystem::is_directory(dir))
    throw Error(dir.string(), std::filesystem::exists(dir) ? "is not a tokenizer directory" : "tokenizer directory does not exist");
  if (std::filesystem::exists(tj)) {
    tok = HfTokenizer::from_file(tj);
  } else if (std::filesystem::exists(tm)) {
    tok = std::make_shared<SentencePieceTokenizer>(tm);
  } else {
    throw Error(dir.string(), "no tokenizer.json or tokenizer.model in this directory");
  }
  tok->dir_ = dir;
  bool sp = std::dynamic_pointer_cast<SentencePieceTokenizer>(tok) != nullptr;
  // SentencePiece (LlamaTokenizer-style) models add BOS unless the config says otherwise.
  tok->add_bos_token_ = sp && tok->special_.bos_id.has_value();
  auto cfg_path = dir / "tokenizer_config.json";
  if (std::filesystem::exists(cfg_path)) {
    json cfg = read_json_file(cfg_path);
    std::string ctx = cfg_path.string();
    if (!cfg.is_object()) throw Error(ctx, "not a JSON object");
    try {
      auto set = [&](const char* key, std::optional<std::string>& s, std::optional<int64_t>& id) {
        if (!cfg.contains(key)) return;  // keep the model's own (SentencePiece) value
        s = token_string(cfg, key, ctx);
        id.reset();
        if (s) {
          id = tok->token_to_id(*s);
          if (!id) spdlog::warn("{}: {} '{}' is not in the vocabulary", ctx, key, *s);
        }
      };
      set("bos_token", tok->special_.bos, tok->special_.bos_id);
      set("eos_token", tok->special_.eos, tok->special_.eos_id);
      set("pad_token", tok->special_.pad, tok->special_.pad_id);
      set("unk_token", tok->special_.unk, tok->special_.unk_id);
      if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean()) tok->add_bos_token_ = cfg["add_bos_token"].get<bool>();
      if (cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean()) tok->add_eos_token_ = cfg["add_eos_token"].get<bool>();
      if (cfg.contains("clean_up_tokenization_spaces") && cfg["clean_up_tokenization_spaces"].is_boolean())
        tok->clean_up_tokenization_spaces_ = cfg["clean_up_tokenization_spaces"].get<bool>();
      if (cfg.contains("model_max_length") && cfg["model_max_length"].is_number()) {
        double v = cfg["model_max_length"].get<double>();
        // transformers writes VERY_LARGE_INTEGER (1e30) when there is no limit.
        if (v > 0 && v < 1e18) tok->model_max_length_ = static_cast<int64_t>(v);
      }
      if (cfg.contains("chat_template") && !cfg["chat_template"].is_null()) {
        const json& ct = cfg["chat_template"];
        if (ct.is_string()) {
          tok->chat_template_ = ct.get<std::string>();
        } else if (ct.is_array()) {
          bool found = false;
          for (const auto& t : ct) {
            if (t.value("name", std::string()) == "default") {
              tok->chat_template_ = t.at("template").get<std::string>();
              found = true;
            }
          }
          if (!found) spdlog::warn("{}: chat_template list has no 'default' entry; none selected", ctx);
        } else {
          throw Error(ctx, "'chat_template' must be a string or a list of {name, template}");
        }
      }
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(ctx, e.what());
    }
  }
  auto jinja = dir / "chat_template.jinja";
  if (std::filesystem::exists(jinja)) tok->chat_template_ = read_text_file(jinja);
  return tok;
}

std::string Tokenizer::clean_up_spaces(std::string s) const {
  if (!clean_up_tokenization_spaces_) return s;
  // transformers' clean_up_tokenization, replacements applied in this order.
  static const std::pair<const char*, const char*> kRules[] = {{" .", "."},    {" ?", "?"},     {" !", "!"},
                                                               {" ,", ","},    {" ' ", "'"},    {" n't", "n't"},
                                                               {" 'm", "'m"},  {" 's", "'s"},   {" 've", "'ve"},
                                                               {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    std::string out;
    size_t prev = 0, pos, flen = std::strlen(from);
    while ((pos = s.find(from, prev)) != std::string::npos) {
      out.append(s, prev, pos - prev);
      out += to;
      prev = pos + flen;
    }
    out.append(s, prev, std::string::npos);
    s.swap(out);
  }
  return s;
}

std::vector<std::vector<int64_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                          bool add_special_tokens) const {
  std::vector<std::vector<int64_t>> out(texts.size());
  size_t nthreads = num_threads_ > 0 ? static_cast<size_t>(num_threads_) : std::max(1u, std::thread::hardware_concurrency());
  nthreads = std::min(nthreads, texts.size());
  if (nthreads <= 1) {
    for (size_t i = 0; i < texts.size(); ++i) out[i] = encode(texts[i], add_special_tokens);
    return out;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto worker = [&]() {
    for (size_t i; (i = next.fetch_add(1)) < texts.size();) {
      try {
        out[i] = encode(texts[i], add_special_tokens);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mu);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < nthreads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
  return out;
}

}  // namespace prospect::tokenizer
