'use strict';
// `npm run test:browser` (after scripts/browser-check.sh has found Chromium): the browser
// entry in headless Chromium, driven by playwright-core over the system browser (no
// browser is downloaded). Serves the package directory over HTTP on 127.0.0.1 (.wasm as
// application/wasm), opens test/browser/page.html once per scenario (test/browser/checks.mjs
// says what each one checks against the float64 oracle in the page), compares the errors
// of bad calls with the Node entry's, and checks that the page fetched only the browser
// build, the .wasm it uses and the test's own files. Prints TAP lines and node:test-style
// "# pass N" / "# fail N" totals; exits non-zero on any failure.
//
//   CHROMIUM=/usr/bin/chromium   the browser to drive
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { chromium } = require('playwright-core');

const ROOT = path.join(__dirname, '..');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
/** Each scenario of test/browser/checks.mjs and the .wasm files its page must fetch: only the build it runs. */
const SCENARIOS = {
  relaxed: ['/dist/fused_attention_relaxed.wasm'],
  simd128: ['/dist/fused_attention.wasm'],
  'no-simd': [],
  'no-wasm': [],
  'wasm-base': ['/dist/fused_attention_relaxed.wasm'],
  // The relaxed build first, then the plain one, before the TS kernels.
  'missing-wasm': ['/no-such-folder/fused_attention_relaxed.wasm', '/no-such-folder/fused_attention.wasm'],
};
const PAGE_TIMEOUT_MS = 180_000;
const MIME = { '.html': 'text/html; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm' };
/** What a page may fetch: the browser build, its .wasm, and the test's own files (the oracle included). */
const ALLOWED = [/^\/dist\/browser\.mjs$/, /^\/dist\/browser\/[\w/.-]+\.mjs$/, /\.wasm$/, /^\/test\/(browser|oracle)\/[\w.-]+\.(html|mjs)$/, /^\/favicon\.ico$/];

/** Serves the files under ROOT that a page may fetch; anything else is a 404. */
function serve() {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, 'http://localhost');
    const file = path.join(ROOT, decodeURIComponent(url.pathname));
    const type = MIME[path.extname(file)];
    if (request.method !== 'GET' || !file.startsWith(ROOT + path.sep) || type === undefined || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(response);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let index = 0;
let pass = 0;
let fail = 0;
function report(ok, name, note) {
  index++;
  if (ok) pass++;
  else fail++;
  console.log(`${ok ? 'ok' : 'not ok'} ${index} - ${name}${ok && note ? ` # ${note}` : ''}`);
  if (!ok && note) for (const line of String(note).split('\n')) console.log(`  # ${line}`);
}

/** Opens the scenario's page and waits for its report; a page that fails to load reports why. */
async function runScenario(browser, origin, scenario) {
  const page = await browser.newPage();
  const fetched = new Set();
  const pageErrors = [];
  page.on('request', (request) => fetched.add(new URL(request.url()).pathname));
  page.on('pageerror', (err) => pageErrors.push(String(err.stack ?? err)));
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') console.log(`  # [${scenario}] console.${message.type()}: ${message.text()}`);
  });
  try {
    await page.goto(`${origin}/test/browser/page.html?scenario=${scenario}`);
    const done = page.waitForFunction(() => window.__report !== undefined, null, { timeout: PAGE_TIMEOUT_MS, polling: 100 });
    const failed = new Promise((_, reject) => {
      const timer = setInterval(() => {
        if (pageErrors.length > 0) reject(new Error(`the page threw: ${pageErrors[0]}`));
      }, 100);
      done.finally(() => clearInterval(timer)).catch(() => {});
    });
    await Promise.race([done, failed]);
    const result = await page.evaluate(() => window.__report);
    return { ...result, fetched: [...fetched], pageErrors };
  } catch (err) {
    return { error: err, fetched: [...fetched], pageErrors };
  } finally {
    await page.close();
  }
}

async function main() {
  const started = Date.now();
  const { badCallOutcomes } = await import(pathToFileURL(path.join(ROOT, 'test', 'browser', 'bad-calls.mjs')).href);
  const expectedErrors = await badCallOutcomes(require(path.join(ROOT, 'dist', 'index.js')));
  const server = await serve();
  const origin = `http://127.0.0.1:${server.address().port}`;
  // Root (CI containers) cannot use Chromium's sandbox; the page is our own.
  const args = ['--disable-gpu', '--disable-dev-shm-usage', ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])];
  const browser = await chromium.launch({ executablePath, headless: true, args });
  console.log(`# ${executablePath}: Chromium ${browser.version()}, serving ${ROOT} at ${origin}`);
  try {
    for (const [scenario, wasmFiles] of Object.entries(SCENARIOS)) {
      const result = await runScenario(browser, origin, scenario);
      if (result.error) {
        report(false, `${scenario}: the page ran its checks`, [String(result.error.stack ?? result.error), ...result.pageErrors].join('\n'));
        continue;
      }
      for (const r of result.results) report(r.ok, `${scenario}: ${r.name}`, r.note);
      for (const [i, [label, actual]] of result.badCalls.entries()) {
        const [, expected] = expectedErrors[i];
        const same = actual.error === expected.error && actual.message === expected.message;
        report(same, `${scenario}: ${label} fails as on Node`, same ? `${actual.error}` : `browser: ${actual.error}: ${actual.message}\nnode:    ${expected.error}: ${expected.message}`);
      }
      const stray = result.fetched.filter((p) => !ALLOWED.some((pattern) => pattern.test(p)));
      const wasm = result.fetched.filter((p) => p.endsWith('.wasm'));
      const problems = [
        ...(stray.length > 0 ? [`also fetched ${stray.join(', ')}`] : []),
        ...(JSON.stringify(wasm) !== JSON.stringify(wasmFiles) ? [`fetched the .wasm files [${wasm.join(', ')}], expected [${wasmFiles.join(', ')}]`] : []),
        ...result.pageErrors,
      ];
      report(problems.length === 0, `${scenario}: the page fetched the browser build, ${wasmFiles.length === 0 ? 'no .wasm' : wasmFiles.join(' then ')} and the test files, nothing else, and threw nothing`, problems.join('\n') || `${result.fetched.length} files, crossOriginIsolated ${result.crossOriginIsolated}`);
    }
  } finally {
    await browser.close();
    server.close();
  }
  console.log(`1..${index}`);
  console.log(`# pass ${pass}`);
  console.log(`# fail ${fail}`);
  console.log(`# duration_ms ${Date.now() - started}`);
  process.exitCode = fail === 0 ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  console.log(`# pass ${pass}`);
  console.log(`# fail ${fail + 1}`);
  process.exitCode = 1;
});
