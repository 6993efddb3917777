// Golden Parquet files for tests/io/test_parquet.cpp and tests/data/test_parquet_rows.cpp, written by two
// writers independent of Prospect, each file next to a JSONL of the same rows:
//   parquet-wasm 0.8.0 (Rust arrow-rs/parquet compiled to WebAssembly; tables built with apache-arrow 21.2.0)
//   hyparquet-writer 0.17.0 (pure JavaScript)
//   scripts/fetch_parquet_writers.sh && node tests/golden/data/parquet/make.mjs     (Node v20)
// Files:
//   uf.jsonl + uf_*.parquet        UltraFeedback Binarized schema (prompt, prompt_id, chosen, rejected,
//                                  messages: list<struct<content, role>>, score_chosen, score_rejected)
//   types.jsonl + types_*.parquet  strings, ints, floats, booleans, nulls, lists (incl. empty and null
//                                  elements), list<struct>, struct, list<list<int32>>
//   shards/uf_part-0000{0,1}-of-00002.parquet  uf.jsonl split in two shards (name order = row order)
// Variants cover UNCOMPRESSED / SNAPPY / GZIP / ZSTD, data pages v1 and v2, dictionary (RLE_DICTIONARY,
// and PLAIN_DICTIONARY by patching page headers, see below), PLAIN, RLE booleans, DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY
// and BYTE_STREAM_SPLIT, several row groups and small pages (many pages per column chunk).
// Also usable as a module: `makeUfRows(n, seed)` and `writeWithParquetWasm(rows, opts)` for the benchmark.
import fs from "fs";
import path from "path";
import zlib from "zlib";
import { createRequire } from "module";
import { fileURLToPath, pathToFileURL } from "url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../../..");
const nm = process.env.PARQUET_NODE_MODULES || path.join(root, ".cache/node/parquet/node_modules");
const require = createRequire(path.join(nm, "noop.js"));
export const arrow = require("apache-arrow");
export const pw = require("parquet-wasm/node");
const hw = await import(pathToFileURL(path.join(nm, "hyparquet-writer/src/index.js")).href);

// Deterministic PRNG (mulberry32) so that the files are reproducible.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ["the", "model", "answer", "question", "because", "of", "a", "and", "we", "think", "data", "train",
  "café", "naïve", "Straße", "中文", "日本語", "emoji 🙂", "\"quoted\"", "tab\there", "new\nline", "back\\slash",
  "Привет", "مرحبا", "x", "value", "is", "not", "clear", "explain", "step", "by", "compute", "sum", "list"];

function sentence(r, min, max) {
  const n = min + Math.floor(r() * (max - min + 1));
  const w = [];
  for (let i = 0; i < n; ++i) w.push(WORDS[Math.floor(r() * WORDS.length)]);
  return w.join(" ");
}

function hex(r, n) {
  let s = "";
  for (let i = 0; i < n; ++i) s += "0123456789abcdef"[Math.floor(r() * 16)];
  return s;
}

// UltraFeedback Binarized rows: chosen/rejected repeat the user turn, messages equals chosen.
export function makeUfRows(n, seed = 7, minWords = 3, maxWords = 14) {
  const r = rng(seed);
  const rows = [];
  for (let i = 0; i < n; ++i) {
    const prompt = i % 13 === 5 ? "" + sentence(r, 1, 2) : sentence(r, minWords, maxWords);
    const turns = [{ content: prompt, role: "user" }];
    if (i % 7 === 3) {
      turns.push({ content: sentence(r, minWords, maxWords), role: "assistant" });
      turns.push({ content: sentence(r, 1, 4), role: "user" });
    }
    const good = sentence(r, minWords, maxWords * 2), worse = "No. " + sentence(r, minWords, maxWords);
    const chosen = [...turns, { content: good, role: "assistant" }];
    const rejected = [...turns, { content: worse, role: "assistant" }];
    const sc = 4 + Math.floor(r() * 25) / 4;  // multiples of 1/4: exact in binary
    rows.push({
      prompt, prompt_id: hex(r, 64), chosen, rejected, messages: chosen.map((m) => ({ ...m })),
      score_chosen: sc, score_rejected: sc - 0.5 - Math.floor(r() * 8) / 4,
    });
  }
  return rows;
}

function makeTypeRows(n, seed = 11) {
  const r = rng(seed);
  const rows = [];
  for (let i = 0; i < n; ++i) {
    const k = Math.floor(r() * 5);
    rows.push({
      s: i % 5 === 2 ? null : i % 9 === 4 ? "" : sentence(r, 1, 5),
      i32: i % 6 === 1 ? null : Math.floor((r() - 0.5) * 4e9) | 0,
      i64: i % 8 === 3 ? null : Math.floor((r() - 0.5) * 2 ** 52) * (i % 2 ? 1 : -1),
      f32: i % 7 === 2 ? null : Math.floor((r() - 0.5) * 4096) / 64,  // exact in float32
      f64: i % 10 === 9 ? null : [0.1, -1e-300, 3.141592653589793, 1e300, -0.0 + 2.5, 123456.789][i % 6] * (1 + i),
      b: i % 4 === 3 ? null : r() < 0.5,
      tags: i % 6 === 5 ? null : k === 0 ? [] : Array.from({ length: k }, (_, j) => (j === 1 && i % 3 === 0 ? null : sentence(r, 1, 2))),
      nums: i % 11 === 10 ? null : Array.from({ length: k }, () => Math.floor(r() * 1e6) - 500000),
      msgs: i % 9 === 8 ? null : Array.from({ length: k % 3 }, (_, j) => ({ content: j === 1 && i % 4 === 0 ? null : sentence(r, 1, 4), role: j % 2 ? "assistant" : "user" })),
      meta: i % 5 === 4 ? null : { a: i % 3 === 1 ? null : i * 3 - 20, b: sentence(r, 1, 2) },
      grid: i % 8 === 7 ? null : Array.from({ length: k % 3 }, (_, j) => (j === 1 && i % 2 ? null : Array.from({ length: (i + j) % 3 }, (_, q) => i * 10 + q))),
    });
  }
  return rows;
}

// ------------------------------------------------------------------------------------------------
// parquet-wasm: build an Arrow table with explicit types, write with the given properties.
const A = arrow;
const str = () => new A.Utf8();
const msgStruct = () => new A.Struct([new A.Field("content", str(), true), new A.Field("role", str(), true)]);
const listOf = (t, name = "element") => new A.List(new A.Field(name, t, true));

export function ufTableForBench(rows) {
  return ufTable(rows);
}

function ufTable(rows) {
  const col = (k, t) => A.vectorFromArray(rows.map((x) => x[k]), t);
  return new A.Table({
    prompt: col("prompt", str()), prompt_id: col("prompt_id", str()),
    chosen: col("chosen", listOf(msgStruct())), rejected: col("rejected", listOf(msgStruct(), "item")),
    messages: col("messages", listOf(msgStruct())),
    score_chosen: col("score_chosen", new A.Float64()), score_rejected: col("score_rejected", new A.Float64()),
  });
}

function typesTable(rows) {
  const col = (k, t, f = (v) => v) => A.vectorFromArray(rows.map((x) => (x[k] === null ? null : f(x[k]))), t);
  return new A.Table({
    s: col("s", str()), i32: col("i32", new A.Int32()), i64: col("i64", new A.Int64(), BigInt),
    f32: col("f32", new A.Float32()), f64: col("f64", new A.Float64()), b: col("b", new A.Bool()),
    tags: col("tags", listOf(str())), nums: col("nums", listOf(new A.Int64()), (a) => a.map(BigInt)),
    msgs: col("msgs", listOf(msgStruct())),
    meta: col("meta", new A.Struct([new A.Field("a", new A.Int32(), true), new A.Field("b", str(), true)])),
    grid: col("grid", listOf(listOf(new A.Int32()))),
  });
}

export function writeWithParquetWasm(table, { codec, version, dict, encoding, rowGroup, pageBytes }) {
  let b = new pw.WriterPropertiesBuilder()
    .setCompression(pw.Compression[codec])
    .setWriterVersion(pw.WriterVersion[version])
    .setDictionaryEnabled(dict)
    .setMaxRowGroupSize(rowGroup)
    .setDataPageSizeLimit(pageBytes);
  if (encoding) b = b.setEncoding(pw.Encoding[encoding]);
  const t = pw.Table.fromIPCStream(A.tableToIPC(table, "stream"));
  return pw.writeParquet(t, b.build());
}

// ------------------------------------------------------------------------------------------------
// hyparquet-writer: explicit Parquet schema (3-level lists), page v2 always.
const S = (name, rep, extra = {}) => ({ name, repetition_type: rep, ...extra });
const STR = { type: "BYTE_ARRAY", converted_type: "UTF8" };
const msgList = (name) => [
  S(name, "OPTIONAL", { converted_type: "LIST", num_children: 1 }), S("list", "REPEATED", { num_children: 1 }),
  S("element", "OPTIONAL", { num_children: 2 }), S("content", "OPTIONAL", STR), S("role", "OPTIONAL", STR),
];

function writeWithHyparquet(columnData, schema, { codec, rowGroup, pageBytes }) {
  const compressors = { GZIP: (b) => new Uint8Array(zlib.gzipSync(b)) };
  return new Uint8Array(hw.parquetWriteBuffer({ columnData, schema, codec, compressors, rowGroupSize: rowGroup, pageSize: pageBytes, statistics: false }));
}

function hyUf(rows, opts) {
  const schema = [{ name: "root", num_children: 7 }, S("prompt", "OPTIONAL", STR), S("prompt_id", "OPTIONAL", STR),
    ...msgList("chosen"), ...msgList("rejected"), ...msgList("messages"),
    S("score_chosen", "OPTIONAL", { type: "DOUBLE" }), S("score_rejected", "OPTIONAL", { type: "DOUBLE" })];
  const cd = Object.keys(rows[0]).map((k) => ({ name: k, data: rows.map((x) => x[k]), encoding: opts.enc?.[k] }));
  return writeWithHyparquet(cd, schema, opts);
}

function hyTypes(rows, opts) {
  const schema = [{ name: "root", num_children: 10 }, S("s", "OPTIONAL", STR), S("i32", "OPTIONAL", { type: "INT32" }),
    S("i64", "OPTIONAL", { type: "INT64" }), S("f32", "OPTIONAL", { type: "FLOAT" }), S("f64", "OPTIONAL", { type: "DOUBLE" }),
    S("b", "OPTIONAL", { type: "BOOLEAN" }),
    S("tags", "OPTIONAL", { converted_type: "LIST", num_children: 1 }), S("list", "REPEATED", { num_children: 1 }), S("element", "OPTIONAL", STR),
    S("nums", "OPTIONAL", { converted_type: "LIST", num_children: 1 }), S("list", "REPEATED", { num_children: 1 }), S("element", "OPTIONAL", { type: "INT64" }),
    ...msgList("msgs"),
    S("meta", "OPTIONAL", { num_children: 2 }), S("a", "OPTIONAL", { type: "INT32" }), S("b", "OPTIONAL", STR)];
  const big = (v) => (v === null ? null : BigInt(v));
  const cols = { ...Object.fromEntries(Object.keys(rows[0]).map((k) => [k, rows.map((x) => x[k])])) };
  cols.i64 = cols.i64.map(big);
  cols.nums = cols.nums.map((a) => (a === null ? null : a.map(big)));
  delete cols.grid;
  const cd = Object.entries(cols).map(([k, data]) => ({ name: k, data, encoding: opts.enc?.[k] }));
  return writeWithHyparquet(cd, schema, opts);
}

// ------------------------------------------------------------------------------------------------
const jsonl = (rows) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

function main() {
  const out = (name, bytes) => fs.writeFileSync(path.join(here, name), bytes);
  const uf = makeUfRows(40);
  const types = makeTypeRows(36);
  out("uf.jsonl", jsonl(uf));
  out("types.jsonl", jsonl(types));
  // hyparquet-writer cannot write list<list<>>: its files are checked against types without `grid`.
  out("types_nogrid.jsonl", jsonl(types.map(({ grid, ...rest }) => rest)));

  const small = { rowGroup: 16, pageBytes: 700 };
  for (const codec of ["UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD"])
    for (const version of ["V1", "V2"])
      out(`uf_pw_${codec.toLowerCase()}_${version.toLowerCase()}_dict.parquet`,
        writeWithParquetWasm(ufTable(uf), { codec, version, dict: true, ...small }));
  out("uf_pw_snappy_v1_plain.parquet", writeWithParquetWasm(ufTable(uf), { codec: "SNAPPY", version: "V1", dict: false, encoding: "PLAIN", ...small }));
  // PLAIN_DICTIONARY: the deprecated name of dictionary-encoded v1 data pages that pyarrow still
  // writes; neither writer here emits it, so an uncompressed arrow-rs file is patched in place: each
  // DataPageHeader's `encoding: RLE_DICTIONARY` (field 2, zigzag 16) becomes PLAIN_DICTIONARY (zigzag 4),
  // same length, next to the RLE level encodings (fields 3 and 4) that pin the match to page headers.
  const pd = Buffer.from(writeWithParquetWasm(ufTable(uf), { codec: "UNCOMPRESSED", version: "V1", dict: true, ...small }));
  let patched = 0;
  for (let i = 0; i + 6 <= pd.length; ++i)
    if (pd[i] === 0x15 && pd[i + 1] === 0x10 && pd[i + 2] === 0x15 && pd[i + 3] === 0x06 && pd[i + 4] === 0x15 && pd[i + 5] === 0x06) {
      pd[i + 1] = 0x04;
      ++patched;
    }
  if (patched < 10) throw new Error(`PLAIN_DICTIONARY patch matched only ${patched} page headers`);
  out("uf_pw_uncompressed_v1_plaindict.parquet", pd);
  out("uf_pw_zstd_v2_delta.parquet", writeWithParquetWasm(ufTable(uf), { codec: "ZSTD", version: "V2", dict: false, ...small }));
  out("types_pw_snappy_v1_dict.parquet", writeWithParquetWasm(typesTable(types), { codec: "SNAPPY", version: "V1", dict: true, ...small }));
  out("types_pw_none_v1_plain.parquet", writeWithParquetWasm(typesTable(types), { codec: "UNCOMPRESSED", version: "V1", dict: false, encoding: "PLAIN", ...small }));
  out("types_pw_zstd_v2_delta.parquet", writeWithParquetWasm(typesTable(types), { codec: "ZSTD", version: "V2", dict: false, ...small }));
  out("types_pw_gzip_v2_dict.parquet", writeWithParquetWasm(typesTable(types), { codec: "GZIP", version: "V2", dict: true, rowGroup: 7, pageBytes: 200 }));

  for (const codec of ["UNCOMPRESSED", "SNAPPY", "GZIP"])
    out(`uf_hy_${codec.toLowerCase()}_v2.parquet`, hyUf(uf, { codec, ...small }));
  out("types_hy_snappy_v2.parquet", hyTypes(types, { codec: "SNAPPY", ...small }));
  out("types_hy_none_v2_delta.parquet", hyTypes(types, {
    codec: "UNCOMPRESSED", ...small,
    enc: { s: "DELTA_BYTE_ARRAY", i32: "DELTA_BINARY_PACKED", i64: "DELTA_BINARY_PACKED", f32: "BYTE_STREAM_SPLIT", f64: "BYTE_STREAM_SPLIT", b: "RLE" },
  }));
  out("types_hy_gzip_v2_dlba.parquet", hyTypes(types, { codec: "GZIP", ...small, enc: { s: "DELTA_LENGTH_BYTE_ARRAY", i64: "PLAIN", b: "PLAIN" } }));

  fs.mkdirSync(path.join(here, "shards"), { recursive: true });
  out("shards/uf_part-00000-of-00002.parquet", writeWithParquetWasm(ufTable(uf.slice(0, 17)), { codec: "SNAPPY", version: "V1", dict: true, ...small }));
  out("shards/uf_part-00001-of-00002.parquet", hyUf(uf.slice(17), { codec: "SNAPPY", ...small }));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
