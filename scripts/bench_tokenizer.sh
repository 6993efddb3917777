#!/usr/bin/env bash
# Tokenizer throughput: builds a multilingual corpus (locale definitions in many scripts, English docs,
# Python source, the golden strings) and reports MB/s of `prospect bench-tokenizer` (single-threaded cold
# and warm cache, batched). If the JS reference (@huggingface/tokenizers) is installed under
# ${GOLDGEN:-/tmp/goldgen}, its single-threaded MB/s on the same corpus is reported too.
# Usage: scripts/bench_tokenizer.sh [TOKENIZER_DIR] [THREADS]   (env: PROSPECT_BIN, CORPUS_MB)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOK="${1:-$ROOT/.cache/tokenizers/qwen3}"
THREADS="${2:-$(nproc)}"
BIN="${PROSPECT_BIN:-$ROOT/build/prospect}"
CORPUS="${CORPUS:-/tmp/prospect_tok_corpus.jsonl}"
MB="${CORPUS_MB:-8}"
/usr/bin/python3 - "$CORPUS" "$MB" "$ROOT" <<'PY'
import glob, json, os, random, sys
out, mb, root = sys.argv[1], float(sys.argv[2]), sys.argv[3]
docs = []
def add_files(pattern, limit):
    for f in sorted(glob.glob(pattern, recursive=True))[:limit]:
        try:
            t = open(f, encoding="utf-8").read()
        except Exception:
            continue
        for para in t.split("\n\n"):
            if para.strip():
                docs.append(para[:20000])  # documents of realistic size
add_files("/usr/share/i18n/locales/*", 400)          # many scripts: CJK, Arabic, Indic, Cyrillic, ...
add_files("/usr/share/doc/*/copyright", 300)         # English prose
add_files("/usr/lib/python3/dist-packages/**/*.py", 300)  # code
g = os.path.join(root, "tests/golden/tokenizer/qwen3_goldens.json")
if os.path.exists(g):
    docs += [c["text"] for c in json.load(open(g))["cases"]]
random.seed(0)
random.shuffle(docs)
size, lines = 0, []
while size < mb * 1e6:
    for d in docs:
        lines.append(json.dumps({"text": d}, ensure_ascii=False))
        size += len(d.encode())
        if size >= mb * 1e6:
            break
open(out, "w", encoding="utf-8").write("\n".join(lines) + "\n")
print(f"[bench] corpus {out}: {size/1e6:.1f} MB, {len(lines)} documents ({len(docs)} distinct)", file=sys.stderr)
PY
echo "[bench] prospect ($TOK, $THREADS threads):" >&2
"$BIN" bench-tokenizer --tokenizer "$TOK" --input "$CORPUS" --threads "$THREADS"
GOLDGEN="${GOLDGEN:-/tmp/goldgen}"
if [ -d "$GOLDGEN/node_modules/@huggingface/tokenizers" ] && [ -f "$TOK/tokenizer.json" ]; then
  echo "[bench] JS reference (@huggingface/tokenizers), single-threaded, first 2 MB:" >&2
  NODE_PATH="$GOLDGEN/node_modules" node --input-type=module -e "
    import fs from 'fs'; import { createRequire } from 'module'; import { pathToFileURL } from 'url';
    const req = createRequire(process.env.NODE_PATH + '/');
    const p = req.resolve('@huggingface/tokenizers').replace(/tokenizers\.cjs$/, 'tokenizers.mjs');
    const { Tokenizer } = await import(pathToFileURL(p).href);
    const dir = '$TOK';
    const cfg = fs.existsSync(dir + '/tokenizer_config.json') ? JSON.parse(fs.readFileSync(dir + '/tokenizer_config.json')) : {};
    const t = new Tokenizer(JSON.parse(fs.readFileSync(dir + '/tokenizer.json')), cfg);
    let docs = fs.readFileSync('$CORPUS', 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).text);
    let bytes = 0, keep = [];
    for (const d of docs) { if (bytes > 2e6) break; keep.push(d); bytes += Buffer.byteLength(d); }
    const t0 = performance.now();
    for (const d of keep) t.encode(d, { add_special_tokens: false });
    const s = (performance.now() - t0) / 1000;
    console.log(JSON.stringify({ js_megabytes: bytes / 1e6, js_single_mb_s: bytes / 1e6 / s }));"
fi
