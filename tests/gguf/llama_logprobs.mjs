// Runs real llama.cpp (the prebuilt CPU binary of the pinned npm package node-llama-cpp, fetched by
// scripts/fetch_llama_cpp.sh) on a GGUF file and prints what the GGUF tests compare with Prospect:
// per-position log-probs of given token ids and llama.cpp's tokenisation of given texts (added tokens
// recognised in the text, as Hugging Face tokenizers do).
//
//   node tests/gguf/llama_logprobs.mjs REQUEST.json
//   REQUEST: {"model": "m.gguf", "lora": "a.gguf" | null, "kv_f32": true, "ids": [[1, 2, 3], ...],
//             "texts": ["...", ...]}
//   stdout:  {"logprobs": [[null, lp_1, ...], ...], "tokens": [[...], ...], "n_vocab": V}
// lp_i = log softmax(logits at position i-1)[ids[i]], computed in double from llama.cpp's full logits.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const pkgDir = process.env.NODE_LLAMA_CPP_DIR || join(root, ".cache", "node-llama-cpp");
const { getLlama, LlamaLogLevel } = await import(
  pathToFileURL(join(pkgDir, "node_modules", "node-llama-cpp", "dist", "index.js")).href);

const req = JSON.parse(readFileSync(process.argv[2], "utf8"));
const llama = await getLlama({
  gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, progressLogs: false,
  logLevel: LlamaLogLevel.error,
});
const model = await llama.loadModel({ modelPath: req.model, gpuLayers: 0 });
const maxLen = Math.max(8, ...(req.ids || []).map((s) => s.length));
const ctxOptions = {
  contextSize: Math.max(64, maxLen + 8), batchSize: Math.max(64, maxLen + 8), threads: req.threads || 2,
  // An F32 KV cache and no flash attention keep llama.cpp's attention in fp32 (its defaults are an F16
  // cache and flash attention "auto"), so that an f32 GGUF can be compared at 1e-4.
  flashAttention: false,
};
if (req.kv_f32 !== false) {
  ctxOptions.experimentalKvCacheKeyType = "F32";
  ctxOptions.experimentalKvCacheValueType = "F32";
}
if (req.lora) ctxOptions.lora = { adapters: [{ filePath: req.lora, scale: req.lora_scale ?? 1 }] };
const context = await model.createContext(ctxOptions);
const sequence = context.getSequence();

const out = { logprobs: [], tokens: [], n_vocab: null };
for (const ids of req.ids || []) {
  await sequence.clearHistory();
  const items = ids.map((id, i) =>
    i + 1 < ids.length ? [id, { generateNext: { logits: true, options: { temperature: 0 } } }] : id);
  const res = await sequence.controlledEvaluate(items);
  const lps = [null];
  for (let i = 0; i + 1 < ids.length; ++i) {
    const logits = res[i]?.next?.logits;
    if (!logits) throw new Error(`no logits at position ${i}`);
    if (out.n_vocab === null) out.n_vocab = logits.size;
    if (logits.size !== out.n_vocab) throw new Error(`logits for ${logits.size} tokens, expected ${out.n_vocab}`);
    let max = -Infinity;
    for (const v of logits.values()) if (v > max) max = v;
    let sum = 0;
    for (const v of logits.values()) sum += Math.exp(v - max);
    const target = logits.get(ids[i + 1]);
    if (target === undefined) throw new Error(`no logit for token ${ids[i + 1]}`);
    lps.push(target - max - Math.log(sum));
  }
  out.logprobs.push(lps);
}
for (const text of req.texts || []) out.tokens.push(Array.from(model.tokenize(text, true)));
process.stdout.write(JSON.stringify(out) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
