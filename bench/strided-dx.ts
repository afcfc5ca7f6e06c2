/**
 * The input gradient of strided convolutions, ConvTranspose vs stride-1 sub-convolutions +
 * DepthToSpace (HEADSTART_STRIDED_DX, src/onnx/ops/conv.ts), layer by layer for the strided convs
 * of ResNet18, MobileNetV2 and EfficientNet-B0 at batch B, runs alternating between the forms in
 * one process (a development tool for issue 10's lever 4; the step-level A/B is bench/step-ab.ts
 * with VARIANTS=plain,plain+subconv). Prints median wall and CPU ms per layer and the sums.
 * B=16 THREADS=2 ROUNDS=5 LAYERS=resnet18,mobilenet_v2,efficientnet_b0 node --import tsx bench/strided-dx.ts
 */
import os from 'node:os';
import { Session } from '../src/engine/session.js';
import { Graph, type AttrValue } from '../src/onnx/graph.js';
import { getOp } from '../src/onnx/op-registry.js';
import '../src/onnx/ops/index.js';
import { serializeModel } from '../src/onnx/serialize.js';
import { Random } from '../src/random.js';

const B = Number(process.env.B ?? 16);
const threads = Number(process.env.THREADS ?? os.availableParallelism());
const rounds = Number(process.env.ROUNDS ?? 5);
const families = (process.env.LAYERS ?? 'resnet18,mobilenet_v2,efficientnet_b0').split(',');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** [in channels, out channels, kernel, input size, group] of the stride-2 convs that need an input gradient. */
const LAYERS: Record<string, [number, number, number, number, number][]> = {
  resnet18: [
    [64, 128, 3, 56, 1],
    [64, 128, 1, 56, 1],
    [128, 256, 3, 28, 1],
    [128, 256, 1, 28, 1],
    [256, 512, 3, 14, 1],
    [256, 512, 1, 14, 1],
  ],
  mobilenet_v2: [
    [96, 96, 3, 112, 96],
    [144, 144, 3, 56, 144],
    [192, 192, 3, 28, 192],
    [576, 576, 3, 14, 576],
  ],
  efficientnet_b0: [
    [96, 96, 3, 112, 96],
    [144, 144, 5, 56, 144],
    [240, 240, 3, 28, 240],
    [672, 672, 5, 14, 672],
  ],
};

function build(form: string, c: number, m: number, k: number, size: number, group: number): { bytes: Uint8Array; y: number[] } {
  process.env.HEADSTART_STRIDED_DX = form;
  try {
    const g = new Graph();
    const x = g.input('x', 'float32', [B, c, size, size]);
    const w = g.input('w', 'float32', [m, c / group, k, k]);
    const attrs: Record<string, AttrValue> = { strides: [2, 2], pads: Array(4).fill((k - 1) / 2) as number[], group };
    const y = g.op('Conv', [x, w], attrs);
    const yShape = g.shape(y);
    const dy = g.input('dy', 'float32', yShape);
    const node = g.nodes.find((n) => n.outputs[0] === y)!;
    const [dx] = getOp('Conv').grad!(g, node, [dy], [true, false, false]);
    g.output(g.alias(dx!, 'dx'));
    // Keep only what the input gradient needs (the forward Conv is not part of it).
    g.nodes.splice(g.nodes.indexOf(node), 1);
    g.inputs.splice(
      g.inputs.findIndex((i) => i.name === x),
      1,
    );
    return { bytes: serializeModel(g), y: yShape };
  } finally {
    delete process.env.HEADSTART_STRIDED_DX;
  }
}

const forms = ['convtranspose', 'subconv'];
const rng = new Random(0);
const totals = forms.map(() => ({ wall: 0, cpu: 0 }));
console.log(
  `strided input gradients, batch ${B}, ${threads} threads, ${rounds} alternating rounds, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const family of families) {
  for (const [c, m, k, size, group] of LAYERS[family]) {
    const built = forms.map((f) => build(f, c, m, k, size, group));
    const sessions = await Promise.all(built.map((b) => Session.create(b.bytes, { threads })));
    const w = { dtype: 'float32' as const, shape: [m, c / group, k, k], data: Float32Array.from({ length: (m * c * k * k) / group }, () => rng.normal()) };
    const dy = { dtype: 'float32' as const, shape: built[0].y, data: Float32Array.from({ length: built[0].y.reduce((a, b) => a * b) }, () => rng.normal()) };
    const wall = forms.map(() => [] as number[]);
    const cpu = forms.map(() => [] as number[]);
    const outs: Float32Array[] = [];
    for (let r = -1; r < rounds; r++) {
      for (let f = 0; f < forms.length; f++) {
        const t = performance.now();
        const u = process.cpuUsage();
        const out = (await sessions[f].run({ w, dy })).dx.data as Float32Array;
        const used = process.cpuUsage(u);
        if (r < 0) outs[f] = out;
        else {
          wall[f].push(performance.now() - t);
          cpu[f].push((used.user + used.system) / 1000);
        }
      }
    }
    let diff = 0;
    let scale = 0;
    outs[0].forEach((v, i) => {
      scale = Math.max(scale, Math.abs(v));
      diff = Math.max(diff, Math.abs(v - outs[1][i]));
    });
    const cells = forms.map((f, i) => {
      totals[i].wall += median(wall[i]);
      totals[i].cpu += median(cpu[i]);
      return `${f} ${median(wall[i]).toFixed(1).padStart(6)} ms (cpu ${median(cpu[i]).toFixed(1).padStart(6)})`;
    });
    console.log(`${family.padEnd(16)} ${`${c}->${m} ${k}x${k} s2 @${size}${group > 1 ? ' dw' : ''}`.padEnd(24)} ${cells.join('  ')}  max diff ${(diff / scale).toExponential(1)}`);
    await Promise.all(sessions.map((s) => s.release()));
  }
}
console.log(`total ${forms.map((f, i) => `${f} ${totals[i].wall.toFixed(0)} ms (cpu ${totals[i].cpu.toFixed(0)})`).join('  ')}`);
