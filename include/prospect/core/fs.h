#pragma once
// Filesystem helpers. All outputs are written atomically: to a temporary name in the same
// directory, then renamed, so that a failure never leaves a half-written file or directory.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace prospect {

namespace fs = std::filesystem;

std::string read_text_file(const fs::path& path);
// Parses a JSON file; errors name the file and the byte position.
nlohmann::json read_json_file(const fs::path& path);
// Writes text to path atomically (path.tmp-XXXX then rename).
void write_text_file_atomic(const fs::path& path, const std::string& text);
void write_json_file_atomic(const fs::path& path, const nlohmann::json& j, int indent = 2);

// Fails early (before any long work) when `out` cannot be written: an ancestor that is not a
// directory, a directory without write permission, or `out` existing as the wrong kind (a
// directory where a file is expected or vice versa). Creates nothing, so that a run which fails
// later leaves no trace. `what` names the option in the message ("--output", "output_dir").
void check_output_path(const fs::path& out, bool is_directory, const std::string& what);

// Removes what a killed atomic write leaves in `dir`: AtomicDir's ".NAME.tmp-XXXX" directories and
// write_text_file_atomic's "NAME.tmp-XXXX" files (XXXX hex, as random_suffix). Returns the count.
int remove_stale_temporaries(const fs::path& dir);

// A directory built under a temporary name next to its final location and renamed into place by
// commit(). If commit() is never called (an exception, an interruption) the destructor removes it.
// commit() replaces an existing final directory only when `replace` is true.
class AtomicDir {
 public:
  explicit AtomicDir(fs::path final_path, bool replace = true);
  ~AtomicDir();
  AtomicDir(const AtomicDir&) = delete;
  AtomicDir& operator=(const AtomicDir&) = delete;
  const fs::path& path() const { return tmp_; }  // where to write now
  const fs::path& final_path() const { return final_; }
  void commit();

 private:
  fs::path final_, tmp_;
  bool replace_, committed_ = false;
};

}  // namespace prospect
