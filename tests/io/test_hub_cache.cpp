// Hugging Face ids resolved offline against a fake hub cache laid out as huggingface_hub writes it
// (refs/<rev> holding the commit, snapshots/<commit>/ files symlinked into blobs/).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "prospect/core/error.h"
#include "prospect/io/hub_cache.h"
#include "test_util.h"

using namespace prospect;
using namespace prospect::io;
using prospect::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kMain = "0123456789abcdef0123456789abcdef01234567";
const std::string kOld = "fedcba9876543210fedcba9876543210fedcba98";

// Sets an environment variable for the scope of a test, restoring the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* v = std::getenv(name)) old_ = v, had_ = true;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_, old_.c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

// <cache>/<kind>s--org--name with a blob-backed file in each snapshot and refs/main -> kMain.
fs::path add_repo(const fs::path& cache, const std::string& folder, const std::vector<std::string>& files) {
  const fs::path repo = cache / folder;
  fs::create_directories(repo / "refs");
  fs::create_directories(repo / "blobs");
  for (const auto& commit : {kMain, kOld}) {
    for (const auto& f : files) {
      const fs::path blob = repo / "blobs" / (commit.substr(0, 8) + std::to_string(std::hash<std::string>{}(f)));
      std::ofstream(blob) << f << "@" << commit;
      const fs::path link = repo / "snapshots" / commit / f;
      fs::create_directories(link.parent_path());
      fs::create_symlink(fs::relative(blob, link.parent_path()), link);
    }
  }
  std::ofstream(repo / "refs" / "main") << kMain;  // huggingface_hub writes no newline
  std::ofstream(repo / "refs" / "v1.0") << kOld << "\n";
  return repo;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(HubCache, CacheDirFollowsHuggingFaceHubPrecedence) {
  ScopedEnv a("HF_HUB_CACHE", "/x/hub"), b("HF_HOME", "/y"), c("XDG_CACHE_HOME", "/z");
  EXPECT_EQ(hub_cache_dir(), fs::path("/x/hub"));
  unsetenv("HF_HUB_CACHE");
  ScopedEnv legacy("HUGGINGFACE_HUB_CACHE", "");
  EXPECT_EQ(hub_cache_dir(), fs::path("/y/hub"));
  unsetenv("HF_HOME");
  EXPECT_EQ(hub_cache_dir(), fs::path("/z/huggingface/hub"));
  unsetenv("XDG_CACHE_HOME");
  ScopedEnv home("HOME", "/home/u");
  EXPECT_EQ(hub_cache_dir(), fs::path("/home/u/.cache/huggingface/hub"));
}

TEST(HubCache, RepoIdSyntax) {
  HubRef r;
  ASSERT_TRUE(parse_repo_id("Qwen/Qwen3-0.6B", r));
  EXPECT_EQ(r.repo_id, "Qwen/Qwen3-0.6B");
  EXPECT_EQ(r.revision, "main");
  ASSERT_TRUE(parse_repo_id("HuggingFaceH4/ultrafeedback_binarized@v1.0", r));
  EXPECT_EQ(r.revision, "v1.0");
  for (const char* bad : {"runs/x/adapter", "model", "/abs/path", "./rel", "a--b/c", "a/b..c", "a/", "/b", "a/b@", "a/-b"})
    EXPECT_FALSE(parse_repo_id(bad, r)) << bad;
}

TEST(HubCache, ModelIdResolvesToSnapshotThroughRefsAndCommits) {
  TempDir tmp;
  ScopedEnv env("HF_HUB_CACHE", (tmp / "hub").string());
  add_repo(tmp / "hub", "models--Qwen--Qwen3-0.6B", {"config.json", "model.safetensors"});
  auto m = resolve_model_path("Qwen/Qwen3-0.6B");
  EXPECT_EQ(m.path, tmp / "hub" / "models--Qwen--Qwen3-0.6B" / "snapshots" / kMain);
  EXPECT_EQ(m.repo_id, "Qwen/Qwen3-0.6B");
  EXPECT_EQ(m.commit, kMain);
  std::ifstream in(m.path / "config.json");  // follows the symlink into blobs/
  std::string text;
  in >> text;
  EXPECT_EQ(text, "config.json@" + kMain);
  EXPECT_EQ(resolve_model_path("Qwen/Qwen3-0.6B@v1.0").commit, kOld);  // a tag in refs/
  EXPECT_EQ(resolve_model_path("Qwen/Qwen3-0.6B@" + kOld).commit, kOld);  // a commit hash directly
}

TEST(HubCache, LocalDirectoryOfTheSameNameWins) {
  TempDir tmp;
  ScopedEnv env("HF_HUB_CACHE", (tmp / "hub").string());
  add_repo(tmp / "hub", "models--Qwen--Qwen3-0.6B", {"config.json"});
  fs::create_directories(tmp / "work" / "Qwen" / "Qwen3-0.6B");
  const fs::path cwd = fs::current_path();
  fs::current_path(tmp / "work");
  auto m = resolve_model_path("Qwen/Qwen3-0.6B");
  fs::current_path(cwd);
  EXPECT_EQ(m.path, fs::path("Qwen/Qwen3-0.6B"));
  EXPECT_TRUE(m.commit.empty());
  // Paths that are not repo ids pass through untouched for the loader to report.
  EXPECT_EQ(resolve_model_path("runs/x/adapter").path, fs::path("runs/x/adapter"));
}

TEST(HubCache, MissingIdSaysWhereItLookedAndHowToDownload) {
  TempDir tmp;
  ScopedEnv env("HF_HUB_CACHE", (tmp / "hub").string());
  std::string e = error_of([] { resolve_model_path("Qwen/Qwen3-0.6B"); });
  EXPECT_NE(e.find((tmp / "hub" / "models--Qwen--Qwen3-0.6B").string()), std::string::npos) << e;
  EXPECT_NE(e.find("huggingface-cli download Qwen/Qwen3-0.6B"), std::string::npos) << e;
  add_repo(tmp / "hub", "models--Qwen--Qwen3-0.6B", {"config.json"});
  e = error_of([] { resolve_model_path("Qwen/Qwen3-0.6B@v2"); });
  EXPECT_NE(e.find("revision 'v2'"), std::string::npos) << e;
  EXPECT_NE(e.find("huggingface-cli download Qwen/Qwen3-0.6B --revision v2"), std::string::npos) << e;
  e = error_of([] { resolve_dataset_split("org/ds:train"); });
  EXPECT_NE(e.find("huggingface-cli download --repo-type dataset org/ds"), std::string::npos) << e;
}

TEST(HubCache, DatasetSplitListsShardsInNameOrder) {
  TempDir tmp;
  ScopedEnv env("HF_HUB_CACHE", (tmp / "hub").string());
  add_repo(tmp / "hub", "datasets--HuggingFaceH4--ultrafeedback_binarized",
           {"README.md", "data/train_prefs-00001-of-00002.parquet", "data/train_prefs-00000-of-00002.parquet",
            "data/test_prefs-00000-of-00001.parquet", "data/train_gen-00000-of-00001.parquet"});
  EXPECT_TRUE(is_dataset_split_id("HuggingFaceH4/ultrafeedback_binarized:train_prefs"));
  EXPECT_FALSE(is_dataset_split_id("data/train.jsonl"));
  EXPECT_FALSE(is_dataset_split_id("C:/x/y"));
  auto d = resolve_dataset_split("HuggingFaceH4/ultrafeedback_binarized:train_prefs");
  EXPECT_EQ(d.snapshot.commit, kMain);
  EXPECT_EQ(d.split, "train_prefs");
  ASSERT_EQ(d.files.size(), 2u);
  EXPECT_EQ(d.files[0].filename(), "train_prefs-00000-of-00002.parquet");
  EXPECT_EQ(d.files[1].filename(), "train_prefs-00001-of-00002.parquet");
  EXPECT_EQ(resolve_dataset_split("HuggingFaceH4/ultrafeedback_binarized@v1.0:test_prefs").snapshot.commit, kOld);
  const std::string e = error_of([] { resolve_dataset_split("HuggingFaceH4/ultrafeedback_binarized:train"); });
  EXPECT_NE(e.find("no split 'train'"), std::string::npos) << e;
  EXPECT_NE(e.find("test_prefs, train_gen, train_prefs"), std::string::npos) << e;
}
