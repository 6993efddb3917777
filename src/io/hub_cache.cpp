#include "prospect/io/hub_cache.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>

#include "prospect/core/error.h"

namespace prospect::io {

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// "~/x" -> "$HOME/x", as os.path.expanduser does for the cache variables.
fs::path expand_user(const std::string& p) {
  if (p.rfind("~/", 0) == 0 || p == "~") return fs::path(env("HOME")) / p.substr(std::min<size_t>(2, p.size()));
  return p;
}

bool is_commit_hash(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit((unsigned char)c) || (c >= 'a' && c <= 'f'); });
}

bool valid_name_part(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.')) return false;
  // huggingface_hub's validate_repo_id: word characters at both ends, no "--" or "..".
  if (!std::isalnum((unsigned char)s.front()) && s.front() != '_') return false;
  if (!std::isalnum((unsigned char)s.back()) && s.back() != '_') return false;
  return s.find("--") == std::string::npos && s.find("..") == std::string::npos;
}

std::string folder_name(const std::string& repo_id, const std::string& kind) {
  std::string f = kind + "s--" + repo_id;
  auto slash = f.find('/');
  f.replace(slash, 1, "--");
  return f;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace((unsigned char)s.back())) s.pop_back();
  size_t b = 0;
  while (b < s.size() && std::isspace((unsigned char)s[b])) ++b;
  return s.substr(b);
}

bool has_ext(const fs::path& p, std::initializer_list<const char*> exts) {
  const std::string e = p.extension().string();
  for (const char* x : exts)
    if (e == x) return true;
  return false;
}

std::vector<fs::path> sorted_files(const fs::path& dir, const std::function<bool(const fs::path&)>& keep) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (fs::is_regular_file(e.path(), ec) && keep(e.path())) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

fs::path hub_cache_dir() {
  for (const char* v : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"})
    if (!env(v).empty()) return expand_user(env(v));
  if (!env("HF_HOME").empty()) return expand_user(env("HF_HOME")) / "hub";
  if (!env("XDG_CACHE_HOME").empty()) return expand_user(env("XDG_CACHE_HOME")) / "huggingface" / "hub";
  return fs::path(env("HOME")) / ".cache" / "huggingface" / "hub";
}

bool parse_repo_id(const std::string& text, HubRef& out) {
  std::string id = text, rev = "main";
  if (auto at = text.find('@'); at != std::string::npos) {
    id = text.substr(0, at);
    rev = text.substr(at + 1);
    if (rev.empty() || rev.find_first_of(" \t\n") != std::string::npos) return false;
  }
  if (id.size() > 96 || std::count(id.begin(), id.end(), '/') != 1) return false;
  const auto slash = id.find('/');
  if (!valid_name_part(id.substr(0, slash)) || !valid_name_part(id.substr(slash + 1))) return false;
  out.repo_id = id;
  out.revision = rev;
  return true;
}

std::string hub_download_command(const HubRef& ref, const std::string& kind) {
  std::string cmd = "huggingface-cli download ";
  if (kind == "dataset") cmd += "--repo-type dataset ";
  cmd += ref.repo_id;
  if (ref.revision != "main") cmd += " --revision " + ref.revision;
  return cmd;
}

HubSnapshot find_hub_snapshot(const HubRef& ref, const std::string& kind) {
  const fs::path cache = hub_cache_dir();
  const fs::path repo = cache / folder_name(ref.repo_id, kind);
  const std::string what = kind + " '" + ref.repo_id + (ref.revision == "main" ? "" : "@" + ref.revision) + "'";
  const std::string hint = "; download it with: " + hub_download_command(ref, kind);
  std::error_code ec;
  if (!fs::is_directory(repo, ec))
    throw Error(what, "not found locally and not in the Hugging Face cache (looked for " + repo.string() +
                          "; cache from HF_HUB_CACHE / HF_HOME / ~/.cache/huggingface/hub)" + hint);
  HubSnapshot s;
  s.repo_id = ref.repo_id;
  s.revision = ref.revision;
  if (is_commit_hash(ref.revision) && fs::is_directory(repo / "snapshots" / ref.revision, ec)) {
    s.commit = ref.revision;
  } else {
    const fs::path ref_file = repo / "refs" / ref.revision;
    std::ifstream in(ref_file);
    if (!in)
      throw Error(what, "revision '" + ref.revision + "' is not in the Hugging Face cache (no " + ref_file.string() + ")" + hint);
    std::string commit((std::istreambuf_iterator<char>(in)), {});
    s.commit = trim(commit);
    if (!is_commit_hash(s.commit)) throw Error(ref_file.string(), "does not hold a commit hash");
  }
  s.dir = repo / "snapshots" / s.commit;
  if (!fs::is_directory(s.dir, ec))
    throw Error(what, "snapshot " + s.dir.string() + " is missing (interrupted download?)" + hint);
  return s;
}

ResolvedModel resolve_model_path(const std::string& spec) {
  ResolvedModel r;
  r.path = spec;
  std::error_code ec;
  if (fs::exists(spec, ec)) return r;  // a local directory of the same name wins
  HubRef ref;
  if (!parse_repo_id(spec, ref)) return r;
  HubSnapshot s = find_hub_snapshot(ref, "model");
  r.path = s.dir;
  r.repo_id = s.repo_id;
  r.commit = s.commit;
  return r;
}

bool is_dataset_split_id(const std::string& spec) {
  const auto colon = spec.rfind(':');
  if (colon == std::string::npos || colon + 1 == spec.size()) return false;
  std::error_code ec;
  if (fs::exists(spec, ec)) return false;
  HubRef ref;
  const std::string split = spec.substr(colon + 1);
  return parse_repo_id(spec.substr(0, colon), ref) && valid_name_part(split);
}

DatasetSplit resolve_dataset_split(const std::string& spec) {
  const auto colon = spec.rfind(':');
  HubRef ref;
  if (colon == std::string::npos || !parse_repo_id(spec.substr(0, colon), ref))
    throw Error(spec, "not a dataset split id (expected org/name[@revision]:split)");
  DatasetSplit d;
  d.split = spec.substr(colon + 1);
  d.snapshot = find_hub_snapshot(ref, "dataset");
  const fs::path root = d.snapshot.dir, data = root / "data";
  const std::string& split = d.split;
  // Shards "<split>-00000-of-00002.parquet": the split name, a dash, then a digit.
  auto shard_of = [&](const fs::path& p) {
    const std::string n = p.filename().string();
    return n.size() > split.size() + 1 && n.compare(0, split.size() + 1, split + "-") == 0 &&
           std::isdigit((unsigned char)n[split.size() + 1]);
  };
  for (auto exts : {std::initializer_list<const char*>{".parquet"}, std::initializer_list<const char*>{".jsonl", ".json"}}) {
    auto ext_ok = [&](const fs::path& p) { return has_ext(p, exts); };
    std::vector<std::vector<fs::path>> tries = {
        sorted_files(data, [&](const fs::path& p) { return shard_of(p) && ext_ok(p); }),
        sorted_files(data, [&](const fs::path& p) { return p.stem() == split && ext_ok(p); }),
        sorted_files(data / split, ext_ok),
        sorted_files(root / split, ext_ok),
    };
    for (auto& t : tries)
      if (!t.empty()) {
        d.files = std::move(t);
        return d;
      }
  }
  // No such split: name the ones that exist.
  std::set<std::string> found;
  for (const auto& p : sorted_files(data, [](const fs::path& p) { return has_ext(p, {".parquet", ".jsonl", ".json"}); })) {
    std::string n = p.stem().string();
    for (size_t i = 0; i + 1 < n.size(); ++i)
      if (n[i] == '-' && std::isdigit((unsigned char)n[i + 1])) {
        n = n.substr(0, i);
        break;
      }
    found.insert(n);
  }
  std::string list;
  for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
  throw Error(spec, "no split '" + split + "' in " + root.string() + (list.empty() ? " (no data/ files)" : " (splits: " + list + ")"));
}

}  // namespace prospect::io
