// SentencePiece tokenizer.model through libsentencepiece, behind the Tokenizer interface.
//
// Why dlopen: Debian's libsentencepiece.so.0 embeds and exports its own protobuf-lite, while LibTorch
// pulls in libprotobuf.so.32. Linking both into one binary makes protobuf's static initialisers call
// into the wrong copy and the program segfaults before main(). So the library is never linked: it is
// opened on first use with RTLD_LOCAL | RTLD_DEEPBIND (its protobuf references bind to its own copy),
// and the handful of methods used are resolved by their mangled names and called as free functions.
#include <dlfcn.h>
#include <sentencepiece_processor.h>  // only for sizeof(SentencePieceProcessor); nothing is called directly
#include <spdlog/spdlog.h>

#include <mutex>
#include <string_view>

#include "prospect/core/error.h"
#include "prospect/tokenizer/hf_tokenizer.h"
#include "unicode.h"

namespace prospect::tokenizer {

namespace {
// Mirror of sentencepiece::util::Status (one unique_ptr<Rep>); non-trivial so it is returned in memory
// exactly like the real class.
struct SpStatus {
  void* rep = nullptr;
  SpStatus() = default;
  SpStatus(const SpStatus&) = delete;
  ~SpStatus();
  bool ok() const { return rep == nullptr; }
  std::string str() const;
};

struct SpApi {
  void* handle = nullptr;
  void (*ctor)(void*) = nullptr;
  void (*dtor)(void*) = nullptr;
  SpStatus (*load)(void*, std::string_view) = nullptr;
  SpStatus (*encode)(const void*, std::string_view, std::vector<int>*) = nullptr;
  SpStatus (*decode)(const void*, const std::vector<int>&, std::string*) = nullptr;
  int (*piece_size)(const void*) = nullptr;
  int (*piece_to_id)(const void*, std::string_view) = nullptr;
  const std::string& (*id_to_piece)(const void*, int) = nullptr;
  bool (*is_control)(const void*, int) = nullptr;
  int (*bos)(const void*) = nullptr;
  int (*eos)(const void*) = nullptr;
  int (*pad)(const void*) = nullptr;
  int (*unk)(const void*) = nullptr;
  void (*status_dtor)(void*) = nullptr;
  std::string (*status_str)(const void*) = nullptr;
  std::string error;
};

template <typename F>
void resolve(SpApi& a, F& fn, const char* name) {
  void* p = dlsym(a.handle, name);
  if (!p && a.error.empty()) a.error = std::string("missing symbol ") + name;
  fn = reinterpret_cast<F>(p);
}

const SpApi& sp_api() {
  static SpApi api = [] {
    SpApi a;
    a.handle = dlopen("libsentencepiece.so.0", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!a.handle) {
      const char* e = dlerror();
      a.error = std::string("cannot open libsentencepiece.so.0: ") + (e ? e : "?");
      return a;
    }
    resolve(a, a.ctor, "_ZN13sentencepiece22SentencePieceProcessorC1Ev");
    resolve(a, a.dtor, "_ZN13sentencepiece22SentencePieceProcessorD1Ev");
    resolve(a, a.load, "_ZN13sentencepiece22SentencePieceProcessor4LoadESt17basic_string_viewIcSt11char_traitsIcEE");
    resolve(a, a.encode, "_ZNK13sentencepiece22SentencePieceProcessor6EncodeESt17basic_string_viewIcSt11char_traitsIcEEPSt6vectorIiSaIiEE");
    resolve(a, a.decode, "_ZNK13sentencepiece22SentencePieceProcessor6DecodeERKSt6vectorIiSaIiEEPNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE");
    resolve(a, a.piece_size, "_ZNK13sentencepiece22SentencePieceProcessor12GetPieceSizeEv");
    resolve(a, a.piece_to_id, "_ZNK13sentencepiece22SentencePieceProcessor9PieceToIdESt17basic_string_viewIcSt11char_traitsIcEE");
    resolve(a, a.id_to_piece, "_ZNK13sentencepiece22SentencePieceProcessor9IdToPieceB5cxx11Ei");
    resolve(a, a.is_control, "_ZNK13sentencepiece22SentencePieceProcessor9IsControlEi");
    resolve(a, a.bos, "_ZNK13sentencepiece22SentencePieceProcessor6bos_idEv");
    resolve(a, a.eos, "_ZNK13sentencepiece22SentencePieceProcessor6eos_idEv");
    resolve(a, a.pad, "_ZNK13sentencepiece22SentencePieceProcessor6pad_idEv");
    resolve(a, a.unk, "_ZNK13sentencepiece22SentencePieceProcessor6unk_idEv");
    resolve(a, a.status_dtor, "_ZN13sentencepiece4util6StatusD1Ev");
    resolve(a, a.status_str, "_ZNK13sentencepiece4util6Status8ToStringB5cxx11Ev");
    return a;
  }();
  return api;
}

SpStatus::~SpStatus() {
  if (rep) sp_api().status_dtor(this);
}
std::string SpStatus::str() const { return sp_api().status_str(this); }

// Owns one SentencePieceProcessor object created inside the dlopen'ed library.
struct SpProcessor {
  const SpApi& api;
  void* obj;
  SpProcessor() : api(sp_api()), obj(::operator new(sizeof(sentencepiece::SentencePieceProcessor))) { api.ctor(obj); }
  ~SpProcessor() {
    api.dtor(obj);
    ::operator delete(obj);
  }
};
}  // namespace

struct SentencePieceTokenizer::Impl {
  std::unique_ptr<SpProcessor> sp;
  std::string source;
};

SentencePieceTokenizer::SentencePieceTokenizer(const std::filesystem::path& model_file)
    : impl_(std::make_unique<Impl>()) {
  impl_->source = model_file.string();
  const SpApi& api = sp_api();
  if (!api.error.empty()) throw Error(model_file.string(), "SentencePiece unavailable: " + api.error);
  impl_->sp = std::make_unique<SpProcessor>();
  void* o = impl_->sp->obj;
  {
    SpStatus st = api.load(o, model_file.string());
    if (!st.ok()) throw Error(model_file.string(), "cannot load SentencePiece model: " + st.str());
  }
  int n = api.piece_size(o);
  auto set = [&](int id, std::optional<std::string>& s, std::optional<int64_t>& sid) {
    if (id < 0 || id >= n) return;
    s = api.id_to_piece(o, id);
    sid = id;
  };
  set(api.bos(o), special_.bos, special_.bos_id);
  set(api.eos(o), special_.eos, special_.eos_id);
  set(api.pad(o), special_.pad, special_.pad_id);
  set(api.unk(o), special_.unk, special_.unk_id);
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<int64_t> SentencePieceTokenizer::encode(const std::string& input, bool add_special_tokens) const {
  std::string fixed;
  const std::string* text = &input;
  if (!unicode::is_valid_utf8(input)) {
    spdlog::warn("tokenizer: input is not valid UTF-8; invalid bytes replaced by U+FFFD");
    fixed = unicode::to_valid_utf8_lossy(input);
    text = &fixed;
  }
  std::vector<int> ids;
  {
    SpStatus st = impl_->sp->api.encode(impl_->sp->obj, *text, &ids);
    if (!st.ok()) throw Error(impl_->source, "encode failed: " + st.str());
  }
  std::vector<int64_t> out;
  out.reserve(ids.size() + 2);
  if (add_special_tokens && add_bos_token_ && special_.bos_id) out.push_back(*special_.bos_id);
  out.insert(out.end(), ids.begin(), ids.end());
  if (add_special_tokens && add_eos_token_ && special_.eos_id) out.push_back(*special_.eos_id);
  return out;
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const SpApi& api = impl_->sp->api;
  const void* o = impl_->sp->obj;
  int n = api.piece_size(o);
  std::vector<int> v;
  v.reserve(ids.size());
  for (int64_t id : ids) {
    if (id < 0 || id >= n) continue;
    // Control pieces (<s>, </s>, ...) decode to nothing in SentencePiece itself; transformers keeps
    // their text unless skip_special_tokens, so they are spliced in here.
    v.push_back(static_cast<int>(id));
  }
  std::string out, chunk;
  std::vector<int> run;
  auto flush = [&]() {
    if (run.empty()) return;
    SpStatus st = api.decode(o, run, &chunk);
    if (!st.ok()) throw Error(impl_->source, "decode failed: " + st.str());
    out += chunk;
    run.clear();
  };
  for (int id : v) {
    if (api.is_control(o, id)) {
      flush();
      if (!skip_special_tokens) out += api.id_to_piece(o, id);
    } else {
      run.push_back(id);
    }
  }
  flush();
  return clean_up_spaces(unicode::is_valid_utf8(out) ? out : unicode::to_valid_utf8_lossy(out));
}

int64_t SentencePieceTokenizer::vocab_size() const { return impl_->sp->api.piece_size(impl_->sp->obj); }

std::optional<int64_t> SentencePieceTokenizer::token_to_id(const std::string& token) const {
  const SpApi& api = impl_->sp->api;
  const void* o = impl_->sp->obj;
  int id = api.piece_to_id(o, token);
  if (id < 0 || id >= api.piece_size(o) || api.id_to_piece(o, id) != token) return std::nullopt;
  return id;
}

std::optional<std::string> SentencePieceTokenizer::id_to_token(int64_t id) const {
  const SpApi& api = impl_->sp->api;
  if (id < 0 || id >= api.piece_size(impl_->sp->obj)) return std::nullopt;
  return api.id_to_piece(impl_->sp->obj, static_cast<int>(id));
}

}  // namespace prospect::tokenizer
