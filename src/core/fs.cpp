#include "prospect/core/fs.h"

#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <unistd.h>

#include "prospect/core/error.h"
#include "prospect/core/temp_path.h"

namespace prospect {

std::string random_suffix() {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^ (uint64_t)getpid());
  std::ostringstream os;
  os << std::hex << (rng() & 0xffffffffULL);
  return os.str();
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string(), "cannot open file");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

nlohmann::json read_json_file(const fs::path& path) {
  std::string text = read_text_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Turn the byte offset into a line number for the message.
    size_t line = 1;
    for (size_t i = 0; i < e.byte && i < text.size(); ++i) line += text[i] == '\n';
    throw Error(path.string() + ":" + std::to_string(line), std::string("malformed JSON: ") + e.what());
  }
}

void write_text_file_atomic(const fs::path& path, const std::string& text) {
  const fs::path tmp = temp_sibling(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(path.string(), "cannot write file");
    out.write(text.data(), (std::streamsize)text.size());
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw Error(path.string(), "write failed");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error(path.string(), "rename failed: " + ec.message());
  }
}

void write_json_file_atomic(const fs::path& path, const nlohmann::json& j, int indent) {
  write_text_file_atomic(path, j.dump(indent) + "\n");
}

void check_output_path(const fs::path& out, bool is_directory, const std::string& what) {
  const std::string ctx = what + " " + out.string();
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (is_directory && !fs::is_directory(out)) throw Error(ctx, "exists and is not a directory");
    if (!is_directory && fs::is_directory(out)) throw Error(ctx, "is a directory, expected a file name");
    const fs::path probe = is_directory ? out : (out.has_parent_path() ? out.parent_path() : fs::path("."));
    if (::access(probe.c_str(), W_OK) != 0) throw Error(ctx, "not writable (" + probe.string() + ")");
    return;
  }
  // The nearest existing ancestor must be a writable directory; the rest is created at write time.
  fs::path a = fs::absolute(out).parent_path();
  while (!a.empty() && !fs::exists(a, ec) && a != a.root_path()) a = a.parent_path();
  if (!fs::is_directory(a)) throw Error(ctx, "cannot be created: " + a.string() + " is not a directory");
  if (::access(a.c_str(), W_OK) != 0) throw Error(ctx, "cannot be created: " + a.string() + " is not writable");
}

int remove_stale_temporaries(const fs::path& dir) {
  static const std::regex dir_re(R"(\..+\.tmp-[0-9a-f]{1,8})"), file_re(R"(.+\.tmp-[0-9a-f]{1,8})");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if ((e.is_directory() && std::regex_match(name, dir_re)) || (e.is_regular_file() && std::regex_match(name, file_re)))
      stale.push_back(e.path());
  }
  for (const auto& p : stale) fs::remove_all(p, ec);
  return (int)stale.size();
}

AtomicDir::AtomicDir(fs::path final_path, bool replace) : final_(std::move(final_path)), replace_(replace) {
  if (final_.has_filename() == false) final_ = final_.parent_path();
  fs::path parent = final_.parent_path();
  if (parent.empty()) parent = ".";
  fs::create_directories(parent);
  tmp_ = parent / ("." + final_.filename().string() + ".tmp-" + random_suffix());
  fs::create_directories(tmp_);
}

AtomicDir::~AtomicDir() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
}

void AtomicDir::commit() {
  std::error_code ec;
  if (fs::exists(final_)) {
    if (!replace_) throw Error(final_.string(), "already exists");
    // Move the old directory aside first so that the swap is as short as possible.
    fs::path old = final_;
    old += ".old-" + random_suffix();
    fs::rename(final_, old, ec);
    if (ec) throw Error(final_.string(), "cannot replace: " + ec.message());
    fs::rename(tmp_, final_, ec);
    if (ec) {
      fs::rename(old, final_);
      throw Error(final_.string(), "rename failed: " + ec.message());
    }
    fs::remove_all(old, ec);
  } else {
    fs::rename(tmp_, final_, ec);
    if (ec) throw Error(final_.string(), "rename failed: " + ec.message());
  }
  committed_ = true;
}

}  // namespace prospect
