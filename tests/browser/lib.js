'use strict';
/* Browser test harness: starts the real snakepit binary on a free loopback
 * port, drives headless Chromium (Debian's /usr/bin/chromium) through
 * playwright-core, and runs tests one after the other, printing
 * "ok - name" / "FAIL - name" and a last line "N passed, M failed". */
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.resolve(ROOT, process.env.SNAKEPIT_BIN || 'build/snakepit');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/* ---------- the server ---------- */

class Server {
  /* Starts BIN with --port 0 (or opts.port) and resolves once it logged
   * `event=listening ... port=N`. opts.data reuses a data directory. */
  static async start(args = [], opts = {}) {
    const s = new Server();
    s.data = opts.data || fs.mkdtempSync(path.join(os.tmpdir(), 'snakepit-browser-'));
    s.ownsData = !opts.data;
    s.lines = [];
    s.args = ['--host', '127.0.0.1', '--port', String(opts.port || 0), '--data', s.data,
      '--static', path.join(ROOT, 'web'), '--log-level', 'info', ...args];
    s.proc = spawn(BIN, s.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    s.exited = new Promise((resolve) => s.proc.on('exit', (code, sig) => resolve({ code, sig })));
    let buf = '';
    s.port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server did not log event=listening within 5 s:\n' + s.tail())), 5000);
      s.proc.on('error', (e) => { clearTimeout(timer); reject(e); });
      s.exited.then(({ code, sig }) => {
        clearTimeout(timer);
        reject(new Error(`server exited (code ${code}, signal ${sig}) before listening:\n` + s.tail()));
      });
      s.proc.stderr.setEncoding('utf8');
      s.proc.stderr.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          s.lines.push(line);
          if (s.lines.length > 2000) s.lines.shift();
          const m = /event=listening/.test(line) && /\bport=(\d+)/.exec(line);
          if (m) { clearTimeout(timer); resolve(Number(m[1])); }
        }
      });
    });
    s.url = `http://127.0.0.1:${s.port}`;
    return s;
  }

  tail(n = 25) { return this.lines.slice(-n).join('\n'); }

  async stop(signal = 'SIGTERM') {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }

  async cleanup() {
    await this.stop('SIGKILL');
    if (this.ownsData) fs.rmSync(this.data, { recursive: true, force: true });
  }

  async getJson(p) {
    const r = await fetch(this.url + p);
    if (!r.ok) throw new Error(`GET ${p}: HTTP ${r.status}`);
    return r.json();
  }
}

/* A snake died in the middle of a check: not a client failure by itself
 * (a stone or another snake got in the way), so such checks may retry. */
class SnakeDied extends Error {}

/* ---------- the browser ---------- */

async function launchBrowser() {
  // launch() gives the browser a fresh temporary profile (user data dir) of
  // its own and removes it on close.
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
}

// Page-side helpers, installed in every page of a test context. They only
// read window.snakepit.state, the client's read-only snapshot.
const PAGE_HELPERS = `
window.__sp = {
  // The cell of my live snake's head ('%' in my colour), or null.
  head(s) {
    s = s || window.snakepit.state;
    if (!s.alive || !s.myColor) return null;
    for (let y = 0; y < s.height; y++)
      for (let x = 0; x < s.width; x++)
        if (s.grid[y][x][0] === '%' && s.grid[y][x][1] === s.myColor) return [x, y];
    return null;
  },
  // Pixels of colour rgb (within tol per channel) on the canvas over the
  // given cells (and \`pad\` cells around each), as drawn now.
  countNear(cells, rgb, tol, pad) {
    const s = window.snakepit.state, cv = document.getElementById('field'), c = s.canvas.cell;
    const seen = new Set();
    let n = 0;
    for (const [x, y] of cells) {
      const x0 = Math.max(0, Math.round((x - pad) * c - s.canvas.camX)), y0 = Math.max(0, Math.round((y - pad) * c - s.canvas.camY));
      const w = Math.min(cv.width - x0, (2 * pad + 1) * c), h = Math.min(cv.height - y0, (2 * pad + 1) * c);
      if (w <= 0 || h <= 0) continue;
      const d = cv.getContext('2d').getImageData(x0, y0, w, h).data;
      for (let i = 0; i < d.length; i += 4) {
        const px = x0 + (i / 4) % w, py = y0 + Math.floor(i / 4 / w);
        if (seen.has(px * 100000 + py)) continue;
        if (Math.abs(d[i] - rgb[0]) <= tol && Math.abs(d[i + 1] - rgb[1]) <= tol && Math.abs(d[i + 2] - rgb[2]) <= tol) {
          seen.add(px * 100000 + py);
          n++;
        }
      }
    }
    return n;
  },
};`;

async function newContext(browser, opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, ...opts });
  await ctx.addInitScript(PAGE_HELPERS);
  ctx.setDefaultTimeout(15000);
  // Poll on a timer: with several pages open, Chromium paints only one of
  // them, and requestAnimationFrame (Playwright's default) stalls in the others.
  ctx.on('page', (page) => {
    const wff = page.waitForFunction.bind(page);
    page.waitForFunction = (fn, arg, opts) => wff(fn, arg, { polling: 20, ...opts });
  });
  return ctx;
}

/* A new page with its errors, dialogs, failed responses and received
 * WebSocket frames recorded. */
async function newPage(ctx) {
  const page = await ctx.newPage();
  page.dialogs = [];
  page.on('dialog', (d) => { page.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.failed = [];
  page.requests = [];
  page.on('request', (r) => page.requests.push(new URL(r.url()).pathname));
  page.on('response', (r) => { if (r.status() >= 400) page.failed.push(`${r.status()} ${r.url()}`); });
  // Every WebSocket frame the page receives, as text.
  page.wsFrames = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => page.wsFrames.push(String(f.payload))));
  return page;
}

/* Opens the client, fills in the start screen and presses Watch (or, with
 * join, Play: one click connects and joins). Returns the page once the
 * handshake arrived (and, with join, once its own snake is on the field). */
async function openPlayer(ctx, server, name, { room = 'default', join = false } = {}) {
  const page = await newPage(ctx);
  await page.goto(server.url + '/');
  await page.getByLabel(/Your name/).fill(name);
  await page.getByLabel(/Room/).fill(room);
  await page.getByRole('button', { name: join ? 'Play' : 'Watch', exact: true }).click();
  await page.waitForFunction(() => window.snakepit.state.status === 'connected' && window.snakepit.state.myId !== null);
  if (join) await waitHead(page);
  return page;
}

/* The Play button of the card on the field ("Play", "Play again"). */
const playButton = (page) => page.getByRole('button', { name: /^Play( again)?$/ });

async function joinGame(page) {
  const join = playButton(page);
  await join.waitFor({ state: 'visible' });
  await join.click();
  await waitHead(page);
  // While the snake lives there is nothing to play.
  await join.waitFor({ state: 'hidden' });
}

async function waitHead(page) {
  try {
    await page.waitForFunction(() => window.__sp.head() !== null);
  } catch (e) {
    const s = await state(page);
    throw new Error(`no head after Play: ${e.message}\n  state: ${JSON.stringify({ ...s, grid: undefined })}\n  field:\n${s.grid.map((r) => '  |' + r.map((c) => c[0]).join('') + '|').join('\n')}`);
  }
}

const state = (page) => page.evaluate(() => window.snakepit.state);
const head = (page) => page.evaluate(() => window.__sp.head());

/* Waits until the page's head has moved and returns [position, direction]. */
async function headMotion(page) {
  const h0 = await (await page.waitForFunction(() => window.__sp.head() || (window.snakepit.state.alive ? false : 'dead'))).jsonValue();
  if (h0 === 'dead') throw new SnakeDied('snake is not alive');
  const h1 = await (await page.waitForFunction(([x, y]) => {
    const h = window.__sp.head();
    return h && (h[0] !== x || h[1] !== y) ? h : (window.snakepit.state.alive ? false : 'dead');
  }, h0)).jsonValue();
  if (h1 === 'dead') throw new SnakeDied('snake died before it moved');
  const d = [Math.sign(h1[0] - h0[0]), Math.sign(h1[1] - h0[1])];
  return [h1, d];
}

const KEY_OF = { '-1,0': 37, '0,-1': 38, '1,0': 39, '0,1': 40 };
const ARROW = { 37: 'ArrowLeft', 38: 'ArrowUp', 39: 'ArrowRight', 40: 'ArrowDown' };
const WASD = { 37: 'a', 38: 'w', 39: 'd', 40: 's' };

/* Of the two directions perpendicular to d, the one with more room ahead. */
function perpendicular(s, [hx, hy], d) {
  const cands = d[0] === 0 ? [[-1, 0], [1, 0]] : [[0, -1], [0, 1]];
  const room = ([dx, dy]) => {
    let n = 0, x = hx + dx, y = hy + dy;
    while (x >= 0 && y >= 0 && x < s.width && y < s.height && !'#@%*x+'.includes(s.grid[y][x][0])) {
      n++; x += dx; y += dy;
    }
    return n;
  };
  return room(cands[0]) >= room(cands[1]) ? cands[0] : cands[1];
}

/* Turns the snake with `act(keyCode)` (a key press, a swipe, a button) and
 * checks through the grid that the head then moves in the new direction:
 * before the turn the head only moves along d, so any progress along n
 * proves the turn. Returns the new direction. */
async function turnAndCheck(page, act) {
  const [, d] = await headMotion(page);
  const s = await state(page);
  const hk = window_head(s);
  if (!hk) throw new SnakeDied('no live head to turn');
  const n = perpendicular(s, hk, d);
  await act(KEY_OF[n.join(',')]);
  const r = await (await page.waitForFunction(([[x, y], [nx, ny]]) => {
    const h = window.__sp.head();
    if (!h) return window.snakepit.state.alive ? false : 'dead';
    return (h[0] - x) * nx + (h[1] - y) * ny >= 1 ? h : false;
  }, [hk, n], { timeout: 5000 })).jsonValue();
  if (r === 'dead') throw new SnakeDied(`snake died instead of turning from ${d} to ${n} at ${hk}`);
  return n;
}

// Node-side twin of window.__sp.head for a snapshot.
function window_head(s) {
  if (!s.alive || !s.myColor) return null;
  for (let y = 0; y < s.height; y++)
    for (let x = 0; x < s.width; x++)
      if (s.grid[y][x][0] === '%' && s.grid[y][x][1] === s.myColor) return [x, y];
  return null;
}

/* Runs fn(); when the page's snake died under it, joins again and retries
 * (at most `tries` times in all). Deaths are logged, not hidden. */
async function withRejoin(page, fn, tries = 3) {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof SnakeDied) || i >= tries) throw e;
      console.log(`  (note: ${e.message}; joining again, try ${i + 1} of ${tries})`);
      await page.waitForFunction(() => !window.snakepit.state.alive);
      await joinGame(page);
    }
  }
}

/* Waits for the next tick the page sees (the render frame every tick sends). */
async function nextTick(page, after) {
  await page.waitForFunction((t) => window.snakepit.state.ticks > t || !window.snakepit.state.alive, after);
}

const isDigit = (c) => c >= '1' && c <= '9';
const DIRS = [[-1, 0], [0, -1], [1, 0], [0, 1]];

/* First step of a shortest path from the head to a cell for which goal(x, y)
 * holds, over empty cells and digits; null when none. */
function firstStep(s, h, goal, avoid = new Set()) {
  const W = s.width, H = s.height;
  const seen = new Int8Array(W * H);
  const q = [];
  seen[h[1] * W + h[0]] = 1;
  for (const d of DIRS) q.push([h[0] + d[0], h[1] + d[1], d]);
  while (q.length) {
    const [x, y, first] = q.shift();
    if (x < 0 || y < 0 || x >= W || y >= H || seen[y * W + x]) continue;
    seen[y * W + x] = 1;
    const c = s.grid[y][x][0];
    if ((c !== ' ' && !isDigit(c)) || avoid.has(`${x},${y}`)) continue;
    if (goal(x, y)) return first;
    for (const d of DIRS) q.push([x + d[0], y + d[1], first]);
  }
  return null;
}

/* Waits until the page has seen n more ticks, or until its room's game
 * loop stopped (no live snake left, so no more ticks will come). */
async function waitTicks(page, n) {
  const t0 = await page.evaluate(() => window.snakepit.state.ticks);
  await page.waitForFunction(([t, k]) => {
    const s = window.snakepit.state;
    return s.ticks >= t + k || s.players.length === 0;
  }, [t0, n]);
}

/* Number of cells reachable from (x, y) over empty cells and digits. */
function roomFrom(s, x0, y0) {
  const W = s.width, H = s.height, seen = new Int8Array(W * H), q = [[x0, y0]];
  let n = 0;
  while (q.length && n < 200) {
    const [x, y] = q.pop();
    if (x < 0 || y < 0 || x >= W || y >= H || seen[y * W + x]) continue;
    seen[y * W + x] = 1;
    const c = s.grid[y][x][0];
    if (c !== ' ' && !isDigit(c)) continue;
    n++;
    for (const d of DIRS) q.push([x + d[0], y + d[1]]);
  }
  return n;
}

/* Plays the page's snake with the keyboard (WASD): each tick, a step along a
 * shortest path to the nearest digit, or else towards the most room. Returns
 * the score once it reached minScore and at least `ticks` ticks went by, or,
 * given `until`, as soon as until() is true. */
async function autopilot(page, { minScore = 1, ticks = 0, until = null, timeoutMs = 20000 } = {}) {
  const end = Date.now() + timeoutMs;
  let seen = 0;
  while (Date.now() < end) {
    const s = await state(page);
    if (!s.alive) throw new SnakeDied('snake died under the autopilot');
    const me = s.players.find((p) => p.id === s.myId);
    if (until ? until() : me && me.score >= minScore && seen >= ticks) return me ? me.score : 0;
    const h = window_head(s);
    if (h) {
      // Cells next to another snake's head may be taken on this very tick.
      const risky = new Set();
      for (let y = 0; y < s.height; y++)
        for (let x = 0; x < s.width; x++)
          if (s.grid[y][x][0] === '%' && s.grid[y][x][1] && s.grid[y][x][1] !== s.myColor)
            for (const e of DIRS) risky.add(`${x + e[0]},${y + e[1]}`);
      let d = firstStep(s, h, (x, y) => isDigit(s.grid[y][x][0]), risky);
      if (!d || roomFrom(s, h[0] + d[0], h[1] + d[1]) < 12) {
        let best = -1;
        for (const e of DIRS) {
          const r = roomFrom(s, h[0] + e[0], h[1] + e[1]);
          if (r > best) { best = r; d = e; }
        }
      }
      if (d) await page.keyboard.press(WASD[KEY_OF[d.join(',')]]);
    }
    await nextTick(page, s.ticks);
    seen++;
  }
  throw new Error('autopilot: score or ticks not reached in time');
}
const eatADigit = (page, opts) => autopilot(page, { minScore: 1, ...opts });

/* Steers straight into the nearest wall that has a clear run to it. */
async function runIntoWall(page, { timeoutMs = 15000 } = {}) {
  const end = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < end) {
    const s = await state(page);
    if (!s.alive) return last;
    const h = window_head(s);
    if (h) {
      last = { head: h, width: s.width, height: s.height };
      let best = null;
      for (const [dx, dy] of DIRS) {
        let x = h[0] + dx, y = h[1] + dy, n = 0, clear = true;
        while (x >= 0 && y >= 0 && x < s.width && y < s.height) {
          const c = s.grid[y][x][0];
          if (c !== ' ' && !isDigit(c)) { clear = false; break; }
          x += dx; y += dy; n++;
        }
        if (clear && (!best || n < best.n)) best = { n, d: [dx, dy] };
      }
      if (best) await page.keyboard.press(ARROW[KEY_OF[best.d.join(',')]]);
    }
    await nextTick(page, s.ticks);
  }
  throw new Error('snake still alive after ' + timeoutMs + ' ms');
}

/* Texts of the names shown in a list (players or top scores). */
const names = (page, list) => page.locator(`#${list} .who`).allTextContents();

/* A digest of the canvas pixels. */
const canvasPixels = (page) => page.evaluate(() => document.getElementById('field').toDataURL('image/png'));

/* ---------- the runner ---------- */

function assert(cond, msg) { if (!cond) throw new Error('assertion failed: ' + msg); }
function assertEq(a, b, msg) {
  const ja = JSON.stringify(a), jb = JSON.stringify(b);
  if (ja !== jb) throw new Error(`assertion failed: ${msg}: got ${ja}, want ${jb}`);
}

const tests = [];
function test(name, fn, { timeoutMs = 40000 } = {}) { tests.push({ name, fn, timeoutMs }); }

async function run() {
  const only = process.argv.slice(2);
  let passed = 0, failed = 0;
  let browser = null;
  try {
    if (!fs.existsSync(BIN)) throw new Error(`no server binary at ${BIN} (run make, or set SNAKEPIT_BIN)`);
    browser = await launchBrowser();
  } catch (e) {
    console.log('FAIL - setup\n' + (e && e.stack || e));
    console.log(`0 passed, ${Math.max(1, tests.length)} failed`);
    return 1;
  }
  for (const t of tests) {
    if (only.length && !only.includes(t.name)) continue;
    const started = Date.now();
    const cleanups = [];
    const servers = [];
    const ctx = {
      browser,
      defer: (fn) => cleanups.push(fn),
      server: async (args, opts) => {
        const s = await Server.start(args, opts);
        servers.push(s);
        cleanups.push(() => s.cleanup());
        return s;
      },
      context: async (opts) => {
        const c = await newContext(browser, opts);
        cleanups.push(() => c.close());
        return c;
      },
    };
    let timer;
    try {
      await Promise.race([
        t.fn(ctx),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${t.timeoutMs} ms`)), t.timeoutMs); }),
      ]);
      passed++;
      console.log(`ok - ${t.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.log(`FAIL - ${t.name} (${((Date.now() - started) / 1000).toFixed(1)} s)\n  ${String(e && e.stack || e).split('\n').join('\n  ')}`);
      for (const s of servers) console.log(`  --- server log (port ${s.port}, last lines):\n  ${s.tail().split('\n').join('\n  ')}`);
    } finally {
      clearTimeout(timer);
      for (const fn of cleanups.reverse()) {
        try { await fn(); } catch (e) { /* best effort */ }
      }
    }
  }
  await browser.close().catch(() => {});
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

module.exports = {
  ROOT, Server, test, run, assert, assertEq, newPage, openPlayer, joinGame, playButton, waitHead, state, head, headMotion,
  window_head, firstStep, DIRS, isDigit,
  turnAndCheck, withRejoin, SnakeDied, eatADigit, autopilot, waitTicks, runIntoWall, names, canvasPixels, nextTick, ARROW, WASD, KEY_OF,
};
