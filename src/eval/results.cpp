#include "prospect/eval/results.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "prospect/core/error.h"
#include "prospect/eval/metrics.h"

namespace prospect::eval {

using nlohmann::json;

std::vector<std::pair<std::string, std::string>> doc_requests(const McDoc& doc) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& c : doc.choices) out.emplace_back(doc.context, kTargetDelimiter + c);
  return out;
}

namespace {
// A group as lm-eval's consolidate_group_results aggregates it: acc weighted by subject size, stderr
// pooled over the group's leaf subjects ("N/A", stored as null, when any subject's stderr is).
json group_entry(const std::vector<double>& accs, const std::vector<std::optional<double>>& ses,
                 const std::vector<int64_t>& ns) {
  int64_t n = 0;
  for (int64_t x : ns) n += x;
  json e{{"acc", weighted_mean(accs, ns)}, {"acc_stderr", nullptr}, {"n", n}};
  std::vector<double> known;
  for (const auto& s : ses)
    if (s) known.push_back(*s);
  if (known.size() == ses.size()) e["acc_stderr"] = pooled_sample_stderr(known, ns);
  return e;
}

json mmlu_results(const std::vector<McDoc>& docs, const std::vector<double>& acc) {
  std::map<std::string, std::vector<double>> by_subject;
  for (size_t i = 0; i < docs.size(); ++i) by_subject[docs[i].subject].push_back(acc[i]);
  json subjects = json::object(), categories = json::object();
  std::map<std::string, std::vector<double>> cat_acc;
  std::map<std::string, std::vector<std::optional<double>>> cat_se;
  std::map<std::string, std::vector<int64_t>> cat_n;
  std::vector<double> subject_means, all_acc;
  std::vector<std::optional<double>> all_se;
  std::vector<int64_t> all_n;
  for (const auto& [subject, v] : by_subject) {
    json e;
    put_metric(e, "acc", v);
    e["n"] = (int64_t)v.size();
    subjects[subject] = e;
    subject_means.push_back(mean(v));
    std::string cat = mmlu_category(subject);
    if (cat.empty()) cat = "other";  // a subject outside the 57 is grouped with "other"
    const auto se = mean_stderr(v);  // a one-question subject has none ("N/A" in the harness)
    cat_acc[cat].push_back(mean(v));
    cat_se[cat].push_back(se);
    cat_n[cat].push_back((int64_t)v.size());
    all_acc.push_back(mean(v));
    all_se.push_back(se);
    all_n.push_back((int64_t)v.size());
  }
  // The harness's groups: each category and "mmlu" itself aggregate their leaf subjects (the
  // aggregation list of a group holds every task below it, not its subgroups' results).
  for (const auto& [cat, accs] : cat_acc) categories[cat] = group_entry(accs, cat_se[cat], cat_n[cat]);
  json r = group_entry(all_acc, all_se, all_n);
  r.erase("n");
  r["acc_macro"] = mean(subject_means);
  r["num_subjects"] = (int64_t)by_subject.size();
  r["categories"] = categories;
  r["subjects"] = subjects;
  return r;
}
}  // namespace

json task_results(TaskKind kind, const std::vector<McDoc>& docs, const std::vector<std::vector<double>>& lls) {
  check(docs.size() == lls.size(), "task_results", "one log-likelihood list per doc needed");
  check(!docs.empty(), "task_results", "no documents were evaluated");
  std::vector<double> acc, acc_norm, mc2;
  for (size_t i = 0; i < docs.size(); ++i) {
    McMetrics m = mc_metrics(lls[i], docs[i].choices, docs[i].gold, docs[i].mc2_true);
    acc.push_back(m.acc);
    acc_norm.push_back(m.acc_norm);
    mc2.push_back(m.mc2);
  }
  json r = json::object();
  switch (kind) {
    case TaskKind::hellaswag:
    case TaskKind::multiple_choice:
      put_metric(r, "acc", acc);
      put_metric(r, "acc_norm", acc_norm);
      break;
    case TaskKind::truthfulqa_mc1: put_metric(r, "acc", acc); break;
    case TaskKind::truthfulqa_mc2: put_metric(r, "acc", mc2); break;
    case TaskKind::mmlu: r = mmlu_results(docs, acc); break;
    case TaskKind::preference: throw Error("task_results", "preference results come from preference_results()");
  }
  r["n"] = (int64_t)docs.size();
  return r;
}

json preference_results(const std::vector<double>& pc, const std::vector<double>& pr, const std::vector<double>& rc,
                        const std::vector<double>& rr, double beta) {
  const size_t n = pc.size();
  check(n > 0 && pr.size() == n && rc.size() == n && rr.size() == n, "preference_results",
        "one log-prob per pair and side needed");
  std::vector<double> chosen(n), rejected(n), margin(n), correct(n);
  for (size_t i = 0; i < n; ++i) {
    chosen[i] = beta * (pc[i] - rc[i]);
    rejected[i] = beta * (pr[i] - rr[i]);
    margin[i] = chosen[i] - rejected[i];
    correct[i] = chosen[i] > rejected[i] ? 1.0 : 0.0;
  }
  json r;
  put_metric(r, "reward_accuracy", correct);
  put_metric(r, "reward_margin", margin);
  put_metric(r, "rewards_chosen", chosen);
  put_metric(r, "rewards_rejected", rejected);
  r["beta"] = beta;
  r["n"] = (int64_t)n;
  return r;
}

namespace {
struct Fnv {
  uint64_t h = 1469598103934665603ULL;
  void add(const void* p, size_t n) {
    auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 1099511628211ULL;
    }
  }
  void add(const std::string& s) {
    add(s.data(), s.size());
    add("\0", 1);
  }
};
}  // namespace

std::string model_fingerprint(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  check(fs::is_directory(dir), dir.string(), "not a directory");
  Fnv f;
  for (const char* cfg : {"config.json", "adapter_config.json"}) {
    if (!fs::exists(dir / cfg)) continue;
    std::ifstream in(dir / cfg, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    f.add(cfg);
    f.add(ss.str());
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  check(!files.empty() || fs::exists(dir / "config.json"), dir.string(), "no config.json or *.safetensors to fingerprint");
  for (const auto& p : files) {
    const uint64_t size = fs::file_size(p);
    f.add(p.filename().string());
    f.add(&size, sizeof size);
    std::ifstream in(p, std::ios::binary);
    uint64_t hlen = 0;
    in.read(reinterpret_cast<char*>(&hlen), 8);
    if (!in || hlen > size) throw Error(p.string(), "not a safetensors file (bad header length)");
    std::string header((size_t)hlen, '\0');
    in.read(header.data(), (std::streamsize)hlen);
    if (!in) throw Error(p.string(), "truncated safetensors header");
    f.add(header);
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)f.h);
  return buf;
}

std::string results_table(const json& results) {
  std::vector<std::vector<std::string>> rows{{"task", "metric", "value", "stderr", "n"}};
  auto fmt = [](const json& v) {
    if (!v.is_number()) return std::string("N/A");
    char b[32];
    std::snprintf(b, sizeof b, "%.4f", v.get<double>());
    return std::string(b);
  };
  const json& res = results.contains("results") ? results.at("results") : results;
  for (const auto& [task, metrics] : res.items()) {
    const std::string n = metrics.contains("n") ? metrics.at("n").dump() : "";
    for (const auto& [name, v] : metrics.items()) {
      if (!v.is_number_float() || (name.size() > 7 && name.compare(name.size() - 7, 7, "_stderr") == 0)) continue;
      if (name == "beta") continue;
      const std::string se_key = name + "_stderr";
      rows.push_back({task, name, fmt(v), metrics.contains(se_key) ? fmt(metrics.at(se_key)) : "", n});
    }
    if (metrics.contains("categories"))
      for (const auto& [cat, e] : metrics.at("categories").items())
        rows.push_back({task + "/" + cat, "acc", fmt(e.at("acc")), fmt(e.at("acc_stderr")), e.at("n").dump()});
  }
  std::vector<size_t> w(5, 0);
  for (const auto& r : rows)
    for (size_t i = 0; i < 5; ++i) w[i] = std::max(w[i], r[i].size());
  std::ostringstream os;
  for (size_t k = 0; k < rows.size(); ++k) {
    for (size_t i = 0; i < 5; ++i) {
      os << rows[k][i];
      if (i + 1 < 5) os << std::string(w[i] - rows[k][i].size() + 2, ' ');
    }
    os << "\n";
    if (k == 0) {
      for (size_t i = 0; i < 5; ++i) os << std::string(w[i], '-') << (i + 1 < 5 ? "  " : "");
      os << "\n";
    }
  }
  return os.str();
}

}  // namespace prospect::eval
