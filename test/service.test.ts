/**
 * examples/service: the HTTP service answers one /encode and one decode session
 * with what the synchronous API computes, on both engines. The service runs the
 * built package (dist/, as a user's service would); the expected answers come
 * from lib/ here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as lib from '../lib/index';

const root = path.join(__dirname, '..');
const model = createRequire(import.meta.url)('../examples/service/model.js') as {
  createModel: (fa: typeof lib) => { encodeSync: (tokens: number[]) => Float32Array; decodeSync: (tokens: number[]) => Float32Array[] };
  summarize: (y: Float32Array) => { checksum: number; l1: number; values: number[] };
  sameAnswer: (got: unknown, want: unknown) => boolean;
  encodeTokens: (k: number) => number[];
  decodeTokens: (steps: number) => number[];
};

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill();
});

function startService(engine: string): Promise<string> {
  const child = spawn(process.execPath, [path.join(root, 'examples', 'service', 'server.js'), '--port', '0', '--engine', engine], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FUSED_ATTENTION_SILENT: '1' },
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (port) resolve(`http://127.0.0.1:${port[1]}`);
    });
    child.stderr!.on('data', (chunk) => (err += chunk));
    child.on('exit', (code) => reject(new Error(`service exited with ${code}: ${err}`)));
  });
}

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const reference = model.createModel(lib);

describe('examples/service', () => {
  for (const engine of ['fused', 'ort']) {
    it(`${engine}: /encode and a /decode session answer what the synchronous API computes`, async () => {
      const url = await startService(engine);
      const tokens = model.encodeTokens(3);
      const encoded = await post(`${url}/encode`, { id: 3, tokens });
      expect(encoded.status).toBe(200);
      expect(encoded.json.id).toBe(3);
      const want = model.summarize(reference.encodeSync(tokens));
      expect(model.sameAnswer(encoded.json, want), JSON.stringify({ got: encoded.json, want })).toBe(true);

      const steps = model.decodeTokens(4);
      const wantSteps = reference.decodeSync(steps).map(model.summarize);
      for (const [step, token] of steps.entries()) {
        const r = await post(`${url}/decode`, { session: 's', step, token, end: step === steps.length - 1 });
        expect(r.status).toBe(200);
        expect(model.sameAnswer(r.json, wantSteps[step]), JSON.stringify({ step, got: r.json, want: wantSteps[step] })).toBe(true);
      }
      const outOfOrder = await post(`${url}/decode`, { session: 't', step: 1, token: 5 });
      expect(outOfOrder).toEqual({ status: 400, json: { error: 'unknown session "t" (a session starts at step 0)' } });

      const stats = (await (await fetch(`${url}/stats`)).json()) as { served: unknown; sessions: number; pool: unknown; eventLoopDelayMs: { p99: number } };
      expect(stats.served).toEqual({ encode: 1, decode: 4 });
      // The ended session gave its cache back to the pool.
      expect(stats.sessions).toBe(0);
      expect(stats.pool).toEqual({ size: 1, inUse: 0, waiting: 0 });
      expect(stats.eventLoopDelayMs.p99).toBeGreaterThan(0);
    });
  }
});
