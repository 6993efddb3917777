#pragma once
// Tokenizers behind one interface: Hugging Face tokenizer.json (byte-level BPE with its normalizers,
// pre-tokenizers, added tokens, post-processors, decoders) and SentencePiece tokenizer.model.
// tokenizer_config.json supplies special tokens, add_bos_token, model_max_length and chat_template.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace prospect::tokenizer {

struct SpecialTokens {
  std::optional<std::string> bos, eos, pad, unk;
  std::optional<int64_t> bos_id, eos_id, pad_id, unk_id;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Loads dir/tokenizer.json (or dir/tokenizer.model) and dir/tokenizer_config.json if present
  // (also dir/chat_template.jinja). Unsupported components -> prospect::Error naming them.
  static std::shared_ptr<Tokenizer> load(const std::filesystem::path& dir);

  // Invalid UTF-8 input is replaced by U+FFFD with a warning (never a crash).
  virtual std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = false) const = 0;
  // Multithreaded over the batch; same results as encode() per item.
  virtual std::vector<std::vector<int64_t>> encode_batch(const std::vector<std::string>& texts,
                                                         bool add_special_tokens = false) const;
  // Lossy UTF-8 (invalid sequences -> U+FFFD), as HF decode.
  virtual std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const = 0;

  virtual int64_t vocab_size() const = 0;  // including added tokens
  virtual std::optional<int64_t> token_to_id(const std::string& token) const = 0;
  virtual std::optional<std::string> id_to_token(int64_t id) const = 0;

  const SpecialTokens& special_tokens() const { return special_; }
  const std::string& chat_template() const { return chat_template_; }  // empty if none
  std::optional<int64_t> model_max_length() const { return model_max_length_; }
  bool add_bos_token() const { return add_bos_token_; }
  bool add_eos_token() const { return add_eos_token_; }
  const std::filesystem::path& source_dir() const { return dir_; }
  // Worker threads for encode_batch (0 = hardware concurrency, 1 = run on the calling thread).
  void set_num_threads(int n) { num_threads_ = n; }
  int num_threads() const { return num_threads_; }

 protected:
  SpecialTokens special_;
  std::string chat_template_;
  std::optional<int64_t> model_max_length_;
  bool add_bos_token_ = false, add_eos_token_ = false;
  // tokenizer_config.json clean_up_tokenization_spaces: decode removes the space before . , ! ? 's n't ...
  bool clean_up_tokenization_spaces_ = false;
  std::string clean_up_spaces(std::string s) const;
  std::filesystem::path dir_;
  int num_threads_ = 0;
};

}  // namespace prospect::tokenizer
