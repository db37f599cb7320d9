'use strict';
/* Browser tests of the web client (web/) against a cluster: Redis, 3 nodes
 * of the real binary and HAProxy, started by scripts/cluster.sh with the
 * shipped deploy/ files, the page loaded and played through HAProxy in
 * headless Chromium. Loaded by test_client.js (one browser for every
 * file); run through tests/browser/run.sh, test names as arguments. */
const { spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { ROOT, test, assert, openPlayer, joinGame, state, headMotion, withRejoin, waitTicks } = require('./lib');

const BIN = path.resolve(ROOT, process.env.SNAKEPIT_BIN || 'build/snakepit');
const CLUSTER_SH = path.join(ROOT, 'scripts', 'cluster.sh');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/* scripts/cluster.sh up --nodes 3 in a temporary directory (down when the
 * test ends); `url` is the game through HAProxy, as openPlayer wants it. */
class Cluster {
  static async up(t, { lease = 1.5 } = {}) {
    const c = new Cluster();
    c.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snakepit-browser-cluster-'));
    c.port = await freePort();
    c.env = {
      ...process.env,
      SNAKEPIT_BIN: BIN,
      SNAKEPIT_NODE_ARGS: `--workers 2 --lease-time ${lease} --redis-timeout 0.5 --static ${path.join(ROOT, 'web')}`,
    };
    t.defer(() => c.down());
    c.sh('up', '--nodes', '3', '--port', String(c.port));
    c.redisPort = Number(/^REDIS_PORT=(\d+)$/m.exec(fs.readFileSync(path.join(c.dir, 'cluster.env'), 'utf8'))[1]);
    c.url = `http://127.0.0.1:${c.port}`;
    return c;
  }

  sh(...args) {
    const r = spawnSync(CLUSTER_SH, [...args, '--dir', this.dir], { env: this.env, encoding: 'utf8', timeout: 60000 });
    if (r.status !== 0) throw new Error(`cluster.sh ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  redis(...args) {
    return execFileSync('redis-cli', ['-p', String(this.redisPort), '--raw', ...args], { encoding: 'utf8' }).trim();
  }

  /* The node that holds room's lease, or null. */
  owner(room) {
    const v = this.redis('GET', `sp:lease:${room}`);
    return v ? v.split(' ')[0] : null;
  }

  kill9(node) {
    process.kill(Number(fs.readFileSync(path.join(this.dir, `node-${node}.pid`), 'utf8')), 'SIGKILL');
  }

  down() {
    try {
      this.sh('down');
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/* Records, in the page, every WebSocket the client makes: when it was
 * made, whether it opened, when it closed. */
function recordSockets() {
  const Native = window.WebSocket;
  window.__sockets = [];
  function Recorded(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    const rec = { made: Date.now(), opened: false, closed: null };
    window.__sockets.push(rec);
    ws.addEventListener('open', () => { rec.opened = true; });
    ws.addEventListener('close', () => { rec.closed = Date.now(); });
    return ws;
  }
  Recorded.prototype = Native.prototype;
  Object.assign(Recorded, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Recorded;
}

test('through HAProxy: the node of the room is killed, the page reconnects by itself and plays on', async (t) => {
  const cl = await Cluster.up(t);
  const c = await t.context();
  await c.addInitScript(recordSockets);
  const page = await openPlayer(c, cl, 'kim', { room: 'bx', join: true });
  await withRejoin(page, () => headMotion(page));
  const victim = cl.owner('bx');
  assert(victim, 'the room has an owner');
  const before = (await state(page)).connections;
  const t0 = Date.now();
  cl.kill9(victim);
  await page.waitForFunction((n) => {
    const s = window.snakepit.state;
    return s.status === 'connected' && s.connections > n && s.myId !== null;
  }, before, { timeout: 15000 });
  const tBack = Date.now() - t0;
  // After a reconnect the player presses Play again, as in any room.
  await joinGame(page);
  await withRejoin(page, () => headMotion(page));
  await waitTicks(page, 5);
  const tPlay = Date.now() - t0;
  const now = cl.owner('bx');
  assert(now && now !== victim, `the room runs on another node now (${victim} -> ${now})`);
  const s = await state(page);
  assert(s.alive && s.room === 'bx' && s.myName === 'kim', 'same room and name, snake alive');
  const sockets = await page.evaluate(() => window.__sockets);
  const refused = sockets.filter((w) => !w.opened).length;
  console.log(`  measured: kill -9 of the room's node (${victim}): the page was connected again after ${tBack} ms ` +
    `(${sockets.length - 1} attempts, ${refused} refused), its snake moving on ${now} after ${tPlay} ms ` +
    '(with the test pressing Play)');
  assert(page.errors.length === 0, `no page errors: ${page.errors}`);
});

test('a refused upgrade (503, Retry-After: 1) makes the page wait a second before it tries again', async (t) => {
  const cl = await Cluster.up(t);
  // Another node (one that is no server of this HAProxy) holds the room
  // for 3 s more: every node refuses it with 503 and Retry-After: 1.
  cl.redis('SET', 'sp:lease:held', 'ghost 1', 'PX', '3000');
  const c = await t.context();
  await c.addInitScript(recordSockets);
  const page = await openPlayer(c, cl, 'lee', { room: 'held' });
  const sockets = await page.evaluate(() => window.__sockets);
  const failed = sockets.filter((w) => !w.opened);
  assert(failed.length >= 2 && sockets[sockets.length - 1].opened,
    `refused until the lease ran out, then open: ${JSON.stringify(sockets)}`);
  // Each refused socket is followed by a wait of at least the server's
  // Retry-After: the first one too, where the page's own backoff (0.5 s)
  // would have tried sooner.
  const waits = [];
  for (let i = 0; i + 1 < sockets.length; i++) {
    if (sockets[i].opened) continue;
    waits.push(sockets[i + 1].made - sockets[i].closed);
  }
  console.log(`  measured: ${failed.length} refused opens, waits before the next attempt ${waits.join(', ')} ms`);
  assert(waits.every((w) => w >= 990), `every wait at least Retry-After (1 s): ${waits}`);
  assert(cl.owner('held') !== 'ghost', 'a node of the cluster took the room');
  await joinGame(page);
  await withRejoin(page, () => headMotion(page));
  assert(page.errors.length === 0, `no page errors: ${page.errors}`);
});
