// Where a prompt step's host time goes: LlamaGraph.forward of `n` tokens at depth 0, split into recording
// (recordStep alone, the Sequence reset before it) and submit + wait (the whole forward minus recording), median of
// `reps` runs after 2 warm-up forwards. Usage (repository root): node docs/runs/2026-12-08/record-time.js MODEL.gguf PACK.kpack [n = 512] [reps = 10]
const path = require('path');
const root = path.join(__dirname, '..', '..', '..');
const d = (m) => require(path.join(root, 'dist', m));
const { vulkan } = d('native/vulkan');
const { openModel } = d('runtime/session');
const { readPack } = d('tuner/pack/read');
const { loadDefaultPack } = d('bin/packs');
const [model, packFile] = process.argv.slice(2, 4);
const n = Number(process.argv[4] ?? 512), reps = Number(process.argv[5] ?? 10);
const ctx = vulkan.createContext(0);
const s = openModel(ctx, model, { packs: packFile === 'default' ? [loadDefaultPack()] : [readPack(packFile), loadDefaultPack()], contextLength: 1024, maxBatch: n, kvType: 'f16' });
const g = s.graph;
const tokens = Array.from({ length: n }, (_, i) => (i * 7919) % s.cfg.vocab);
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const orig = g.recordStep.bind(g);
let recMs = 0;
g.recordStep = (...args) => { const t0 = performance.now(); orig(...args); recMs += performance.now() - t0; };
if (process.env.RECORD_ONLY) {
  // recording alone, no submission (for a CPU profile on a device too slow to run the step)
  const times = [];
  for (let r = 0; r < reps; r++) { g.seq.reset(); const t0 = performance.now(); orig(g.seq, n, 0, 'argmax', null); times.push(performance.now() - t0); }
  console.log(`${ctx.device.name}: recording the ${n}-token step alone, median of ${reps}: ${median(times).toFixed(3)} ms (first ${times[0].toFixed(3)})`);
  g.seq.reset();
  s.close();
  process.exit(0);
}
for (let i = 0; i < 2; i++) g.forward(tokens, 0, 'argmax');
const rec = [], total = [];
for (let r = 0; r < reps; r++) {
  recMs = 0;
  const t0 = performance.now();
  g.forward(tokens, 0, 'argmax');
  total.push(performance.now() - t0); rec.push(recMs);
}
const recordOnly = [];
for (let r = 0; r < reps; r++) { g.seq.reset(); const t0 = performance.now(); orig(g.seq, n, 0, 'argmax', null); recordOnly.push(performance.now() - t0); }
console.log(`${ctx.device.name}: forward of ${n} tokens, median of ${reps}: ${median(total).toFixed(3)} ms in all, recording ${median(rec).toFixed(3)} ms, the rest (submit + GPU + wait) ${(median(total) - median(rec)).toFixed(3)} ms; recording alone (no submit) ${median(recordOnly).toFixed(3)} ms`);
s.close();
