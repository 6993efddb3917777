// Helper of scripts/bench_parquet.sh (Node v20, packages from scripts/fetch_parquet_writers.sh).
//   node scripts/bench_parquet.mjs write OUT.parquet [MB]   UltraFeedback-like rows written by parquet-wasm
//                                                           (SNAPPY, data page v1, dictionary, 8192-row groups)
//   node scripts/bench_parquet.mjs read FILE [REPEAT]       parquet-wasm readParquet throughput (best of REPEAT)
import fs from "fs";
import path from "path";
import { fileURLToPath } from "url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const gold = await import(path.join(root, "tests/golden/data/parquet/make.mjs"));
const { arrow, pw } = gold;
const [mode, file, arg] = process.argv.slice(2);

if (mode === "write") {
  const targetMb = Number(arg || 100);
  // Longer texts than the goldens (UltraFeedback answers run to hundreds of words); batches of rows
  // until the file reaches the target size.
  const batches = [];
  let bytes = 0, seed = 1;
  while (bytes < targetMb * 1e6 * 3.0) {  // snappy + dictionary shrink these rows about 3x
    const rows = gold.makeUfRows(4096, seed++, 20, 160);
    batches.push(rows);
    bytes += rows.reduce((n, r) => n + JSON.stringify(r).length, 0);
  }
  const rows = batches.flat();
  const buf = gold.writeWithParquetWasm(gold.ufTableForBench(rows),
    { codec: "SNAPPY", version: "V1", dict: true, rowGroup: 8192, pageBytes: 1 << 20 });
  fs.writeFileSync(file, buf);
  console.log(JSON.stringify({ file, rows: rows.length, file_mb: buf.length / 1e6 }));
} else if (mode === "read") {
  const repeat = Number(arg || 3);
  const data = new Uint8Array(fs.readFileSync(file));
  let best = Infinity, rows = 0;
  for (let k = 0; k < repeat; ++k) {
    const t0 = process.hrtime.bigint();
    const t = pw.readParquet(data);
    const table = arrow.tableFromIPC(t.intoIPCStream());
    rows = table.numRows;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  console.log(JSON.stringify({ reader: "parquet-wasm 0.8.0 readParquet -> apache-arrow Table", file_mb: data.length / 1e6, rows, best_seconds: best, mb_per_s: data.length / 1e6 / best }));
} else {
  console.error("usage: bench_parquet.mjs write OUT [MB] | read FILE [REPEAT]");
  process.exit(2);
}
