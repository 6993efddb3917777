#pragma once
// Hugging Face tokenizer.json tokenizer (BPE model, byte-level or not). Tokenizer::load() returns one
// of these for a directory with tokenizer.json; this header adds knobs used by tests and benchmarks.
#include <memory>
#include <nlohmann/json_fwd.hpp>

#include "prospect/tokenizer/tokenizer.h"

namespace prospect::tokenizer {

class HfTokenizer : public Tokenizer {
 public:
  // Parses a tokenizer.json document; `source` names it in errors (normally the file path).
  HfTokenizer(const nlohmann::json& j, const std::string& source);
  static std::shared_ptr<HfTokenizer> from_file(const std::filesystem::path& tokenizer_json);
  ~HfTokenizer() override;

  std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = false) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const override;
  int64_t vocab_size() const override;
  std::optional<int64_t> token_to_id(const std::string& token) const override;
  std::optional<std::string> id_to_token(int64_t id) const override;
  // True for special=true added tokens (the ones decode(skip_special_tokens=true) drops).
  bool is_special_id(int64_t id) const;

  // The fast paths (bytes fed to BPE without materialising the byte-level string; the per-piece cache)
  // can be switched off to compare against the plain reference path.
  void set_fast_byte_level(bool on);
  void set_piece_cache(bool on);

  // Called by Tokenizer::load with tokenizer_config.json values.
  friend class Tokenizer;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// SentencePiece tokenizer.model through libsentencepiece.
class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& model_file);
  ~SentencePieceTokenizer() override;
  std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = false) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const override;
  int64_t vocab_size() const override;
  std::optional<int64_t> token_to_id(const std::string& token) const override;
  std::optional<std::string> id_to_token(int64_t id) const override;
  friend class Tokenizer;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace prospect::tokenizer
