#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  spdlog::set_level(spdlog::level::warn);
  return RUN_ALL_TESTS();
}

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include "test_util.h"

namespace prospect::test {
RunResult run_command(const std::string& cmdline) {
  TempDir t;
  std::string out_f = (t / "out").string(), err_f = (t / "err").string();
  std::string full = cmdline + " >'" + out_f + "' 2>'" + err_f + "' </dev/null";
  int status = std::system(full.c_str());
  RunResult r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](const std::string& f) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out_f);
  r.err = slurp(err_f);
  return r;
}
}  // namespace prospect::test
