// Chained dispatches: can in-shader waits replace the pipeline barrier between dependent dispatches?
// R dispatches ping-pong buffers a <-> b, each b[i] = a[i] + 1 over G workgroups of 256 (chain.comp, compiled with
// trixie's glslangValidator -V --target-env vulkan1.2; SPIR-V inline below). One timestamp pair around all R:
//   barrier:  a pipeline barrier between consecutive dispatches (what the decode step records today);
//   chain:    no barriers; dispatch i's workgroups spin until the counter reaches i * G (every workgroup of every
//             earlier dispatch signalled, atomicAdd after memoryBarrierBuffer), relying on the in-order launch of
//             one queue's dispatches (an earlier dispatch's workgroups are all launched before a later one's);
//   chain+barrier: the chain kernel with barriers too (the cost of the wait/signal code).
// Every run checks the result: all 4*G*256 bytes must equal initial + R (a race would leave some lower).
// Usage (repository root): node docs/runs/2026-12-07d/chain.js [R = 256]
const path = require('path');
const d = (m) => require(path.join(__dirname, '..', '..', '..', 'dist', m));
const { vulkan } = d('native/vulkan');
const { summarize } = d('tuner/stats');
const spirv = Buffer.from('AwIjBwAFAQALAAgAUgAAAAAAAAARAAIAAQAAAAsABgABAAAAR0xTTC5zdGQuNDUwAAAAAA4AAwAAAAAAAQAAAA8ADAAFAAAABAAAAG1haW4AAAAACQAAABUAAAAiAAAAMgAAADgAAAA9AAAAUQAAABAABgAEAAAAEQAAAAABAAABAAAAAQAAAAMAAwACAAAAwgEAAAUABAAEAAAAbWFpbgAAAAAFAAMABwAAAFBDAAAGAAUABwAAAAAAAAB3YWl0Rm9yAAYABQAHAAAAAQAAAGNoYWluAAAABQADAAkAAABwYwAABQAIABUAAABnbF9Mb2NhbEludm9jYXRpb25JbmRleAAFAAMAIAAAAEMAAAAGAAQAIAAAAAAAAABjbnQABQADACIAAAAAAAAABQADAC8AAABpAAAABQAIADIAAABnbF9HbG9iYWxJbnZvY2F0aW9uSUQAAAAFAAMANgAAAEIAAAAGAAQANgAAAAAAAABiAAAABQADADgAAAAAAAAABQADADsAAABBAAAABgAEADsAAAAAAAAAYQAAAAUAAwA9AAAAAAAAAAUAAwBRAAAAZ28AAEcAAwAHAAAAAgAAAEgABQAHAAAAAAAAACMAAAAAAAAASAAFAAcAAAABAAAAIwAAAAQAAABHAAQAFQAAAAsAAAAdAAAARwAEAB8AAAAGAAAABAAAAEcAAwAgAAAAAgAAAEgABAAgAAAAAAAAABUAAABIAAQAIAAAAAAAAAAXAAAASAAFACAAAAAAAAAAIwAAAAAAAABHAAMAIgAAABUAAABHAAMAIgAAABcAAABHAAQAIgAAACEAAAACAAAARwAEACIAAAAiAAAAAAAAAEcABAAyAAAACwAAABwAAABHAAQANQAAAAYAAAAEAAAARwADADYAAAACAAAASAAEADYAAAAAAAAAFwAAAEgABAA2AAAAAAAAABkAAABIAAUANgAAAAAAAAAjAAAAAAAAAEcAAwA4AAAAFwAAAEcAAwA4AAAAGQAAAEcABAA4AAAAIQAAAAEAAABHAAQAOAAAACIAAAAAAAAARwAEADoAAAAGAAAABAAAAEcAAwA7AAAAAgAAAEgABAA7AAAAAAAAABcAAABIAAQAOwAAAAAAAAAYAAAASAAFADsAAAAAAAAAIwAAAAAAAABHAAMAPQAAABcAAABHAAMAPQAAABgAAABHAAQAPQAAACEAAAAAAAAARwAEAD0AAAAiAAAAAAAAAEcABABPAAAACwAAABkAAAATAAIAAgAAACEAAwADAAAAAgAAABUABAAGAAAAIAAAAAAAAAAeAAQABwAAAAYAAAAGAAAAIAAEAAgAAAAJAAAABwAAADsABAAIAAAACQAAAAkAAAAVAAQACgAAACAAAAABAAAAKwAEAAoAAAALAAAAAQAAACAABAAMAAAACQAAAAYAAAArAAQABgAAAA8AAAAAAAAAFAACABAAAAAgAAQAFAAAAAEAAAAGAAAAOwAEABQAAAAVAAAAAQAAAB0AAwAfAAAABgAAAB4AAwAgAAAAHwAAACAABAAhAAAADAAAACAAAAA7AAQAIQAAACIAAAAMAAAAKwAEAAoAAAAjAAAAAAAAACAABAAkAAAADAAAAAYAAAArAAQABgAAACoAAAABAAAAKwAEAAYAAAArAAAASAAAACsABAAGAAAALAAAAAIAAAArAAQABgAAAC0AAAAIAQAAIAAEAC4AAAAHAAAABgAAABcABAAwAAAABgAAAAMAAAAgAAQAMQAAAAEAAAAwAAAAOwAEADEAAAAyAAAAAQAAAB0AAwA1AAAABgAAAB4AAwA2AAAANQAAACAABAA3AAAADAAAADYAAAA7AAQANwAAADgAAAAMAAAAHQADADoAAAAGAAAAHgADADsAAAA6AAAAIAAEADwAAAAMAAAAOwAAADsABAA8AAAAPQAAAAwAAAArAAQABgAAAE4AAAAAAQAALAAGADAAAABPAAAATgAAACoAAAAqAAAAIAAEAFAAAAAEAAAABgAAADsABABQAAAAUQAAAAQAAAA2AAUAAgAAAAQAAAAAAAAAAwAAAPgAAgAFAAAAOwAEAC4AAAAvAAAABwAAAEEABQAMAAAADQAAAAkAAAALAAAAPQAEAAYAAAAOAAAADQAAAKsABQAQAAAAEQAAAA4AAAAPAAAA9wADABMAAAAAAAAA+gAEABEAAAASAAAAEwAAAPgAAgASAAAAPQAEAAYAAAAWAAAAFQAAAKoABQAQAAAAFwAAABYAAAAPAAAA9wADABkAAAAAAAAA+gAEABcAAAAYAAAAGQAAAPgAAgAYAAAA+QACABoAAAD4AAIAGgAAAPYABAAcAAAAHQAAAAAAAAD5AAIAHgAAAPgAAgAeAAAAQQAGACQAAAAlAAAAIgAAACMAAAAjAAAAPQAEAAYAAAAmAAAAJQAAAEEABQAMAAAAJwAAAAkAAAAjAAAAPQAEAAYAAAAoAAAAJwAAALAABQAQAAAAKQAAACYAAAAoAAAA+gAEACkAAAAbAAAAHAAAAPgAAgAbAAAA+QACAB0AAAD4AAIAHQAAAPkAAgAaAAAA+AACABwAAADhAAMAKgAAACsAAAD5AAIAGQAAAPgAAgAZAAAA4AAEACwAAAAsAAAALQAAAPkAAgATAAAA+AACABMAAABBAAUAFAAAADMAAAAyAAAADwAAAD0ABAAGAAAANAAAADMAAAA+AAMALwAAADQAAAA9AAQABgAAADkAAAAvAAAAPQAEAAYAAAA+AAAALwAAAEEABgAkAAAAPwAAAD0AAAAjAAAAPgAAAD0ABAAGAAAAQAAAAD8AAACAAAUABgAAAEEAAABAAAAAKgAAAEEABgAkAAAAQgAAADgAAAAjAAAAOQAAAD4AAwBCAAAAQQAAAEEABQAMAAAAQwAAAAkAAAALAAAAPQAEAAYAAABEAAAAQwAAAKsABQAQAAAARQAAAEQAAAAPAAAA9wADAEcAAAAAAAAA+gAEAEUAAABGAAAARwAAAPgAAgBGAAAA4QADACoAAAArAAAA4AAEACwAAAAsAAAALQAAAD0ABAAGAAAASAAAABUAAACqAAUAEAAAAEkAAABIAAAADwAAAPcAAwBLAAAAAAAAAPoABABJAAAASgAAAEsAAAD4AAIASgAAAEEABgAkAAAATAAAACIAAAAjAAAAIwAAAOoABwAGAAAATQAAAEwAAAAqAAAADwAAACoAAAD5AAIASwAAAPgAAgBLAAAA+QACAEcAAAD4AAIARwAAAP0AAQA4AAEA', 'base64');
const R = Number(process.argv[2] ?? 256);
const ctx = vulkan.createContext(0);
const pipe = ctx.createPipeline({ spirv: new Uint8Array(spirv), specConstants: [], pushConstantBytes: 8, bindingCount: 3 });
const cnt = ctx.createBuffer(256);
console.log(`chained dispatches on ${ctx.device.name}: ${R} dependent dispatches; us per dispatch, median of 9 (min..max)`);
for (const G of [1, 132, 1056]) {
  const n = G * 256;
  const a = ctx.createBuffer(4 * n), b = ctx.createBuffer(4 * n);
  for (const [name, chain, barrier] of [['barrier', 0, 1], ['chain', 1, 0], ['chain+barrier', 1, 1], ['chain', 1, 0], ['barrier', 0, 1]]) {
    const seq = ctx.createSequence();
    const us = [];
    let bad = 0;
    for (let rep = 0; rep < 10; rep++) {
      const init = new Uint32Array(n).fill(rep * 1000);
      ctx.upload(a, init);
      seq.reset();
      seq.fill(cnt, 0);
      seq.barrier();
      seq.timestamp();
      for (let i = 0; i < R; i++) {
        const push = new Uint8Array(new Uint32Array([i * G, chain]).buffer);
        seq.dispatch(pipe, [{ buffer: i % 2 ? b : a }, { buffer: i % 2 ? a : b }, { buffer: cnt }], push, [G, 1, 1]);
        if (barrier) seq.barrier();
      }
      seq.timestamp();
      seq.submit();
      const ts = seq.timestamps();
      if (rep > 0) us.push((ts[1] - ts[0]) / 1e3 / R);
      const out = new Uint32Array(ctx.download(R % 2 ? b : a, 0, 4 * n));
      for (let k = 0; k < n; k++) if (out[k] !== rep * 1000 + R) bad++;
    }
    const s = summarize(us);
    console.log(`G=${String(G).padStart(4)} ${name.padEnd(14)} ${s.medianNs.toFixed(2).padStart(8)} (${Math.min(...us).toFixed(2)}..${Math.max(...us).toFixed(2)})  wrong words: ${bad}`);
    seq.destroy();
  }
  a.destroy(); b.destroy();
}
cnt.destroy();
ctx.destroy();
