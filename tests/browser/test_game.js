'use strict';
/* Browser tests of issue 13, "a game people want to play": one click to
 * play, room links, deaths that say why, rounds with standings, chat and
 * who is watching, sound, your own snake, gliding and the classic look,
 * the phone layout with its camera and minimap, restarts that say so, and
 * the original Snakepit page playing among all the extensions. Loaded by
 * test_client.js (one browser for both files). */
const fs = require('fs');
const os = require('os');
const path = require('path');
const {
  ROOT, test, assert, assertEq, newPage, openPlayer, joinGame, playButton, waitHead, state, withRejoin,
  eatADigit, autopilot, waitTicks, runIntoWall, nextTick, KEY_OF, ARROW, SnakeDied,
} = require('./lib');
const { shot } = require('./shots');

const PHONE = { viewport: { width: 390, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const COLORS = ['#aeb6c2', '#ff6b6b', '#4ade80', '#60a5fa', '#facc15', '#e879f9', '#22d3ee'];

test('one click: Play on the start screen joins; the title, the favicon, Copy link and a room link', async (t) => {
  const srv = await t.server(['--seed', '31', '--field', '30x16', '--tick-rate', '8']);
  const c = await t.context();
  await c.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.url });
  const olga = await newPage(c);
  await olga.goto(srv.url + '/');
  await olga.getByLabel(/Your name/).fill('olga');
  await olga.getByLabel(/Room/).fill('linkroom');
  await olga.getByRole('button', { name: 'Play', exact: true }).click();
  await waitHead(olga);  // no second click
  assertEq(await olga.title(), 'linkroom \u00b7 Snakepit', 'the title shows the room');
  assertEq(new URL(olga.url()).search, '?room=linkroom', 'the address is the room link');
  // The favicon the page names, and /favicon.ico for browsers that ask.
  const icons = await olga.evaluate(async () => {
    const href = document.querySelector('link[rel=icon]').href;
    const a = await fetch(href), b = await fetch('/favicon.ico');
    return [a.status, a.headers.get('content-type'), b.status, b.headers.get('content-type')];
  });
  assertEq(icons, [200, 'image/svg+xml', 200, 'image/x-icon'], 'favicons served');
  assertEq(olga.failed, [], 'nothing failed to load');
  // Copy link puts the room's address on the clipboard (of the page in front).
  await olga.bringToFront();
  await olga.getByRole('button', { name: 'Copy link' }).click();
  await olga.getByRole('button', { name: 'Link copied' }).waitFor();
  const link = await olga.evaluate(() => navigator.clipboard.readText());
  assertEq(link, srv.url + '/?room=linkroom', 'the link on the clipboard');
  // A stranger (no name stored) opens the link: the room at once, and Play
  // is one click away, with a name field.
  const c2 = await t.context();
  const pia = await newPage(c2);
  await pia.goto(link);
  await pia.waitForFunction(() => window.snakepit.state.status === 'connected');
  assertEq(await pia.locator('#room-name').textContent(), 'linkroom', 'the room of the link');
  assertEq(await pia.title(), 'linkroom \u00b7 Snakepit', 'title');
  await pia.getByLabel('Play as').fill('pia');
  await playButton(pia).click();
  await waitHead(pia);
  await pia.locator('#players .who', { hasText: 'pia' }).waitFor();
  assertEq(pia.failed, [], 'nothing failed to load');
  assert(olga.errors.length === 0 && pia.errors.length === 0, 'no page errors: ' + olga.errors.concat(pia.errors));
});

test('top scores show each player in the colour of its snake, also when its name colour was taken', async (t) => {
  // "ann" and "bob" have the same name colour: bob, joining while ann
  // plays, gets another one, and keeps it.
  const srv = await t.server(['--seed', '19', '--field', '30x16', '--tick-rate', '10']);
  const c = await t.context();
  const ann = await openPlayer(c, srv, 'ann', { join: true });
  let done = false;
  const keep = withRejoin(ann, () => autopilot(ann, { until: () => done, timeoutMs: 25000 }), 6);
  keep.catch(() => {});
  const bob = await openPlayer(c, srv, 'bob', { join: true });
  const a = await state(ann), b = await state(bob);
  assert(a.myColor !== b.myColor, `two colours (${a.myColor}, ${b.myColor})`);
  await withRejoin(bob, () => eatADigit(bob));
  await runIntoWall(bob);
  const row = ann.locator('#top-scores li', { hasText: 'bob' });
  await row.waitFor();
  const swatch = await row.locator('.swatch').evaluate((e) => e.style.background);
  const want = await ann.evaluate((h) => { const e = document.createElement('i'); e.style.background = h; return e.style.background; }, COLORS[b.myColor]);
  assertEq(swatch, want, "bob's top-scores swatch on ann's page is his snake's colour");
  done = true;
  await keep;
});

/* The direction of my snake from its followed cells, or null. */
const myDir = (s) => (s.mine && s.mine.cells.length > 1
  ? [s.mine.cells[0][0] - s.mine.cells[1][0], s.mine.cells[0][1] - s.mine.cells[1][1]] : null);

test('a death by another snake names it, to a player who sees only the field', async (t) => {
  // The prey circles on a 2x2 square (its 3 cells fit in 4); the hunter
  // heads for the nearest of the prey's cells. Whichever runs into the
  // other, its card names the other.
  const srv = await t.server(['--seed', '13', '--field', '24x14', '--tick-rate', '6']);
  const c = await t.context();
  const prey = await openPlayer(c, srv, 'prey', { join: true });
  const hunter = await openPlayer(c, srv, 'hunter', { join: true });
  for (let attempt = 0; attempt < 4; attempt++) {
    for (let i = 0; ; i++) {
      if (i > 200) throw new Error('both still alive after 200 ticks');
      const [p, h] = await Promise.all([state(prey), state(hunter)]);
      if (!p.alive || !h.alive) break;
      const pd = myDir(p);
      if (pd) await prey.keyboard.press(ARROW[KEY_OF[[-pd[1], pd[0]].join(',')]]);
      const hd = myDir(h);
      if (hd && p.mine) {
        const hh = h.mine.cells[0];
        let best = null;
        for (const d of [[-1, 0], [0, -1], [1, 0], [0, 1]]) {
          if (d[0] === -hd[0] && d[1] === -hd[1]) continue;
          const n = [hh[0] + d[0], hh[1] + d[1]];
          if (n[0] < 0 || n[1] < 0 || n[0] >= h.width || n[1] >= h.height) continue;
          const ch = h.grid[n[1]][n[0]];
          const preyCell = ch[1] === p.mine.color && '%@*'.includes(ch[0]);
          if (!preyCell && ch[0] !== ' ' && !(ch[0] >= '1' && ch[0] <= '9')) continue;
          const dist = Math.min(...p.mine.cells.map((q) => Math.abs(q[0] - n[0]) + Math.abs(q[1] - n[1])));
          if (!best || dist < best[0]) best = [dist, d];
        }
        if (best && (best[1][0] !== hd[0] || best[1][1] !== hd[1])) await hunter.keyboard.press(ARROW[KEY_OF[best[1].join(',')]]);
      }
      await nextTick(hunter, h.ticks);
    }
    for (const [page, other] of [[hunter, 'prey'], [prey, 'hunter']]) {
      const s = await state(page);
      if (s.death && s.death.cause === 'snake') {
        await page.getByRole('region', { name: `You ran into ${other}` }).waitFor();
        await page.getByRole('button', { name: 'Play again' }).waitFor();
        return;
      }
    }
    const [p, h] = await Promise.all([state(prey), state(hunter)]);
    console.log(`  (note: a snake died otherwise: ${JSON.stringify([p.death, h.death])}; again)`);
    for (const [page, s] of [[prey, p], [hunter, h]]) if (!s.alive) await joinGame(page);
  }
  throw new Error('the hunter never reached the prey');
}, { timeoutMs: 60000 });

test('your snake is outlined, heads stand out, snakes glide at 60 fps; the classic look keeps the characters', async (t) => {
  // The default field and tick rate.
  const srv = await t.server(['--seed', '17']);
  const c = await t.context();
  const me = await openPlayer(c, srv, 'mia', { join: true });
  const other = await openPlayer(c, srv, 'otto', { join: true });
  // Both play on (joining again after a death) while the page is looked at.
  let done = false;
  const keep = Promise.all([me, other].map((p) =>
    withRejoin(p, () => autopilot(p, { until: () => done, timeoutMs: 30000 }), 6)));
  keep.catch(() => {});
  // Smooth motion: frames drawn between ticks, measured with rAF timestamps
  // (on the page in front: Chromium paints only that one).
  await me.bringToFront();
  const m = await me.evaluate(() => new Promise((resolve) => {
    const stamps = [], s0 = window.snakepit.state;
    const f0 = s0.render.frames, d0 = s0.render.drawMs, t0 = s0.ticks;
    const step = (ts) => {
      stamps.push(ts);
      if (ts - stamps[0] < 2000) return requestAnimationFrame(step);
      const s1 = window.snakepit.state, gaps = stamps.slice(1).map((v, i) => v - stamps[i]).sort((a, b) => a - b);
      resolve({
        fps: (stamps.length - 1) / ((stamps[stamps.length - 1] - stamps[0]) / 1000),
        p95: gaps[Math.floor(gaps.length * 0.95)],
        drawn: s1.render.frames - f0, drawMs: (s1.render.drawMs - d0) / Math.max(1, s1.render.frames - f0),
        ticks: s1.ticks - t0, seconds: (stamps[stamps.length - 1] - stamps[0]) / 1000,
      });
    };
    requestAnimationFrame(step);
  }));
  console.log(`  figure: browser frames ${m.fps.toFixed(1)}/s (p95 gap ${m.p95.toFixed(1)} ms); the client drew ` +
    `${(m.drawn / m.seconds).toFixed(1)} frames/s, ${m.drawMs.toFixed(2)} ms each, over ${m.ticks} ticks (default field, 10 ticks/s)`);
  assert(m.drawn / m.seconds > 20, `the snakes glide: ${m.drawn} frames in ${m.seconds.toFixed(1)} s`);
  assert(m.drawn > 2 * m.ticks, `several frames per tick (${m.drawn} frames, ${m.ticks} ticks)`);
  // My snake has a white outline; the other one has none; heads are
  // lighter than bodies. Read in one go in the page: state and pixels of
  // the same frame.
  const looks = await me.waitForFunction(() => {
    const s = window.snakepit.state;
    if (!s.mine || s.mine.cells.length < 3) return false;
    const HEADS = ['#dfe4ea', '#ffb3b3', '#a7f3c4', '#b4d4fd', '#fde68a', '#f5c2fb', '#a5f3fc'];
    const hex = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
    const white = window.__sp.countNear(s.mine.cells, [255, 255, 255], 4, 0);
    const head = window.__sp.countNear([s.mine.cells[0]], hex(HEADS[s.myColor]), 6, 1);
    // other snakes' heads, away from mine
    const others = [];
    for (let y = 0; y < s.height; y++)
      for (let x = 0; x < s.width; x++)
        if (s.grid[y][x][0] === '%' && s.grid[y][x][1] && s.grid[y][x][1] !== s.myColor &&
            !s.mine.cells.some((q) => Math.abs(q[0] - x) <= 2 && Math.abs(q[1] - y) <= 2)) others.push([x, y]);
    const whiteOthers = window.__sp.countNear(others, [255, 255, 255], 4, 0);
    return white > 20 && head > 10 ? { white, head, others: others.length, whiteOthers, camera: s.canvas.camera } : false;
  }, null, { timeout: 5000 }).then((h) => h.jsonValue());
  assert(!looks.camera, 'no camera on a desktop');
  assertEq(looks.whiteOthers, 0, `no white outline on the other snakes (${looks.others} heads looked at)`);
  // The classic look: characters, no gliding; remembered.
  await me.getByLabel(/Classic look/).check();
  await waitTicks(me, 2);
  const c0 = await state(me);
  await waitTicks(me, 10);
  const c1 = await state(me);
  const perTick = (c1.render.frames - c0.render.frames) / Math.max(1, c1.ticks - c0.ticks);
  assert(c1.classic && perTick <= 1.5, `classic: about one frame per tick (${perTick.toFixed(2)})`);
  done = true;
  await keep;
  await me.reload();
  assert(await me.getByLabel(/Classic look/).isChecked(), 'the classic look is remembered');
  assert(me.errors.length === 0, 'no page errors: ' + me.errors);
}, { timeoutMs: 45000 });

test('a timed round: the clock follows the server, standings for every member, then the next round', async (t) => {
  const srv = await t.server(['--seed', '5', '--field', '30x16', '--tick-rate', '10',
    '--round-seconds', '3', '--standings-seconds', '2']);
  const c = await t.context();
  const ann = await openPlayer(c, srv, 'ann', { join: true });
  const bob = await openPlayer(c, srv, 'bob', { join: true });
  const cid = await openPlayer(c, srv, 'cid');  // watches, with sound on
  await cid.getByRole('button', { name: 'Sound: off' }).click();
  // While the round runs the clock shows exactly what the server said.
  await cid.locator('#round', { hasText: /Round ends in 0:0[123]/ }).waitFor();
  // Both read at once: a second may tick between two reads.
  const clock = await cid.evaluate(() => [document.getElementById('round').textContent, window.snakepit.state.round]);
  assertEq(clock[0], `Round ends in 0:0${clock[1]}`, 'clock = server');
  // Both play until the round kills their snakes (or something else does).
  await Promise.all([ann, bob].map(async (p) => {
    try {
      await autopilot(p, { until: () => false, timeoutMs: 6000 });
    } catch (e) {
      if (!(e instanceof SnakeDied)) throw e;
    }
  }));
  for (const p of [ann, bob, cid]) {
    const card = p.getByRole('region', { name: 'Round over' });
    await card.waitFor({ timeout: 6000 });
    const st = await state(p);
    assertEq(st.standings.map((x) => x.name).sort(), ['ann', 'bob'], 'both in the standings');
    assert(st.standings[0].score >= st.standings[1].score, 'winner first: ' + JSON.stringify(st.standings));
    const first = st.standings[0];
    const want = first.score > 0 ? `Winner: ${first.name} with ${first.score} point${first.score === 1 ? '' : 's'}` : 'Nobody scored this round.';
    assertEq(await card.locator('#overlay-text').textContent(), want, 'the winner');
    assertEq(await card.locator('#standings li .who').allTextContents(), st.standings.map((x) => x.name), 'the table');
    await p.getByRole('button', { name: /^Next round in \d s$/ }).waitFor();
    assert(await p.getByRole('button', { name: /^Next round in/ }).isDisabled(), 'no Play during the standings');
  }
  assert((await state(cid)).sounds.round >= 1, 'the round-end sound played');
  // One colour per player on the page: the standings and the top scores agree.
  for (const p of [ann, bob, cid]) {
    const seen = await p.evaluate(() => {
      const bg = (li) => li.querySelector('.swatch').style.background;
      const of = (sel) => Object.fromEntries([...document.querySelectorAll(sel)]
        .map((li) => [li.querySelector('.who').textContent, [bg(li), Number(li.querySelector('.score').textContent)]]));
      return { standings: of('#standings li'), top: of('#top-scores li') };
    });
    // A fresh server: whoever scored this round is in the top scores.
    for (const [name, [color, score]] of Object.entries(seen.standings)) {
      if (score === 0) continue;
      assert(name in seen.top, `${name} scored ${score} and is in the top scores: ` + JSON.stringify(seen));
      assertEq(seen.top[name][0], color, `${name}: one colour in the standings and the top scores`);
    }
  }
  await ann.bringToFront();
  await shot(ann, 'standings');
  // The server's round is over: the clock is gone and does not count.
  assert(await cid.locator('#round').isHidden(), 'no clock after the round');
  await cid.waitForTimeout(1000);
  assert(await cid.locator('#round').isHidden(), 'still no clock: it never counts on its own');
  // After the standings, Play starts the next round, at full length.
  await playButton(cid).waitFor({ timeout: 4000 });
  await cid.getByText('The next round starts with the next player.').waitFor();
  await joinGame(cid);
  await cid.locator('#round', { hasText: 'Round ends in 0:03' }).waitFor();
  await ann.getByRole('region', { name: 'Round over' }).waitFor({ state: 'hidden' });
}, { timeoutMs: 30000 });

test('chat: text only, to the room; its limit is shown and clears; who is watching', async (t) => {
  const srv = await t.server(['--seed', '8', '--field', '24x14', '--tick-rate', '10', '--chat-rate', '5']);
  const c = await t.context();
  const alice = await openPlayer(c, srv, 'alice', { room: 'talk' });
  const bob = await openPlayer(c, srv, 'bob', { room: 'talk' });
  const carl = await openPlayer(c, srv, 'carl', { room: 'quiet' });
  await alice.locator('#watching', { hasText: '2 watching' }).waitFor();
  await alice.getByLabel('Message', { exact: true }).fill('<img src=x onerror=alert(1)> hi bob');
  await alice.getByRole('button', { name: 'Send' }).click();
  const line = bob.getByRole('log', { name: 'Chat messages' }).locator('li', { hasText: 'hi bob' });
  await line.waitFor();
  assertEq(await line.textContent(), 'alice<img src=x onerror=alert(1)> hi bob', 'shown as text');
  assertEq(await bob.locator('#chat-log img').count(), 0, 'no element injected');
  assertEq(await alice.getByLabel('Message', { exact: true }).inputValue(), '', 'the input is emptied');
  // Five in a burst: the sixth is refused, and the message clears by itself.
  for (let i = 2; i <= 6; i++) {
    await alice.getByLabel('Message', { exact: true }).fill('msg ' + i);
    await alice.getByLabel('Message', { exact: true }).press('Enter');
  }
  const err = alice.getByRole('alert');
  await err.filter({ hasText: 'Too many messages: at most 5 in 10 seconds' }).waitFor();
  await err.waitFor({ state: 'hidden', timeout: 4000 });
  await bob.getByRole('log', { name: 'Chat messages' }).locator('li', { hasText: 'msg 5' }).waitFor();
  assertEq(await bob.locator('#chat-log li', { hasText: 'msg 6' }).count(), 0, 'the refused one went nowhere');
  assertEq((await state(carl)).chat, [], 'nothing reached the other room');
  // Typing in the chat never steers.
  await joinGame(alice);
  await waitTicks(alice, 2);
  const before = myDir(await state(alice));
  await alice.getByLabel('Message', { exact: true }).pressSequentially('sawd');
  await waitTicks(alice, 2);
  const after = await state(alice);
  if (after.alive) assertEq(myDir(after), before, 'typing w a s d in the chat did not steer');
  // One fewer watching once alice plays.
  await bob.locator('#watching', { hasText: '1 watching' }).waitFor({ timeout: 3000 });
  assertEq(alice.dialogs.concat(bob.dialogs), [], 'no dialog opened');
});

test('sound: off by default, one click turns it on, remembered; effects are generated', async (t) => {
  const srv = await t.server(['--seed', '7', '--field', '30x14', '--tick-rate', '8']);
  const c = await t.context();
  const page = await openPlayer(c, srv, 'sam');
  const off = page.getByRole('button', { name: 'Sound: off' });
  await off.waitFor();
  assertEq(await off.getAttribute('aria-pressed'), 'false', 'off by default');
  await off.click();
  await page.getByRole('button', { name: 'Sound: on' }).waitFor();
  await page.reload();
  await page.waitForFunction(() => window.snakepit.state.status === 'connected');
  const on = page.getByRole('button', { name: 'Sound: on' });
  assertEq(await on.getAttribute('aria-pressed'), 'true', 'the choice is remembered');
  await joinGame(page);
  await withRejoin(page, () => eatADigit(page));
  await runIntoWall(page);
  await page.waitForFunction(() => !window.snakepit.state.alive);
  const s = await state(page);
  assert(s.sounds.eat >= 1 && s.sounds.die >= 1, 'eat and die effects played: ' + JSON.stringify(s.sounds));
  // Generated: nothing but the page, its script, style, icon and API.
  const fetched = [...new Set(page.requests)].filter((u) => !/^\/(|client\.js|style\.css|favicon\.(svg|ico)|api\/(rooms|scores)|connect)$/.test(u));
  assertEq(fetched, [], 'no sound files fetched');
  assertEq(page.failed, [], 'nothing failed');
  assert(page.errors.length === 0, 'no page errors: ' + page.errors);
});

test('phone portrait: full-width field, the panel in one line, a camera with readable cells and a minimap', async (t) => {
  const srv = await t.server(['--seed', '12', '--tick-rate', '8']);
  const c = await t.context(PHONE);
  const page = await openPlayer(c, srv, 'pho', { join: true });
  const box = await page.locator('#field').boundingBox();
  assert(box.width >= 370, `the field takes the full width (${box.width} of 390)`);
  const bar = page.locator('#bar-text');
  await bar.filter({ hasText: /pho|default \u00b7 1 playing/ }).waitFor();
  assertEq(await bar.evaluate((e) => getComputedStyle(e).whiteSpace), 'nowrap', 'one line');
  assert(await page.getByRole('heading', { name: 'Players' }).isHidden(), 'the panel is folded');
  await page.getByRole('button', { name: 'Menu' }).tap();
  await page.getByRole('heading', { name: 'Players' }).waitFor();
  await page.getByRole('button', { name: 'Close' }).tap();
  await page.getByRole('heading', { name: 'Players' }).waitFor({ state: 'hidden' });
  for (const n of ['Up', 'Down', 'Left', 'Right'])
    assert(await page.getByRole('button', { name: n, exact: true }).isVisible(), `on-screen ${n}`);
  await page.getByRole('img', { name: 'Map of the whole field' }).waitFor();
  // The camera follows my snake with cells of at least 14 CSS px.
  await withRejoin(page, () => autopilot(page, { ticks: 12, minScore: 0 }), 4);
  const s = await state(page);
  assert(s.canvas.camera, 'the camera is on');
  assert(s.canvas.cell / s.canvas.dpr >= 14, `cells of ${s.canvas.cell / s.canvas.dpr} CSS px`);
  if (s.mine) {
    const [hx, hy] = s.mine.cells[0], cpx = s.canvas.cell;
    const vx = hx * cpx - s.canvas.camX, vy = hy * cpx - s.canvas.camY;
    assert(vx >= -cpx && vx <= s.canvas.width && vy >= -cpx && vy <= s.canvas.height,
      `my head is in view (${vx}, ${vy} in ${s.canvas.width}x${s.canvas.height})`);
  }
  assertEq(await page.evaluate(() => [window.scrollX, window.scrollY]), [0, 0], 'no scrolling');
  await shot(page, 'phone');
});

test('phone: one tap plays; the death card fits the screen; Play again; chat and Copy link in the menu', async (t) => {
  const srv = await t.server(['--seed', '7', '--field', '30x14', '--tick-rate', '10']);
  const c = await t.context(PHONE);
  const page = await newPage(c);
  await page.goto(srv.url + '/');
  await page.getByLabel(/Your name/).fill('tap');
  await page.getByRole('button', { name: 'Play', exact: true }).tap();
  await waitHead(page);
  assertEq(await page.title(), 'default \u00b7 Snakepit', 'title');
  await runIntoWall(page);
  const card = page.getByRole('region', { name: 'You hit the wall' });
  await card.waitFor();
  const box = await card.boundingBox();
  assert(box.x >= 0 && box.y >= 0 && box.x + box.width <= 390 && box.y + box.height <= 740, 'the card is on the screen: ' + JSON.stringify(box));
  await page.getByRole('button', { name: 'Play again' }).tap();
  await waitHead(page);
  await page.getByRole('button', { name: 'Menu' }).tap();
  await page.getByRole('button', { name: 'Copy link' }).waitFor();
  await page.getByLabel('Message', { exact: true }).fill('from my phone');
  await page.getByRole('button', { name: 'Send' }).tap();
  await page.getByRole('log', { name: 'Chat messages' }).locator('li', { hasText: 'from my phone' }).waitFor();
  assertEq(page.failed, [], 'nothing failed to load');
  assert(page.errors.length === 0, 'no page errors: ' + page.errors);
});

test('a server restart says so: restarting, then restarted', async (t) => {
  const args = ['--seed', '4', '--field', '24x14', '--tick-rate', '10'];
  const first = await t.server(args);
  const c = await t.context();
  const page = await openPlayer(c, first, 'rex', { join: true });
  await first.stop('SIGTERM');  // close 1001, going away
  await page.locator('#status', { hasText: 'The server is restarting. Reconnecting' }).waitFor();
  const second = await t.server(args, { port: first.port, data: first.data });
  await page.locator('#status', { hasText: 'The server restarted. Your snake is gone: press Play to join again.' })
    .waitFor({ timeout: 15000 });
  await page.getByText('The server restarted. Your snake is gone: press Play to join again.').last().waitFor();
  await joinGame(page);
  await page.locator('#status', { hasText: 'Connected to room default as rex' }).waitFor();
  assert(second.port === first.port, 'same port');
});

test('the original Snakepit page still plays, among every extension', async (t) => {
  // The original page (tests/browser/v1) served next to ours.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snakepit-v1-'));
  t.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const d of ['web', 'tests/browser/v1'])
    for (const f of fs.readdirSync(path.join(ROOT, d))) fs.copyFileSync(path.join(ROOT, d, f), path.join(dir, f));
  const srv = await t.server(['--seed', '9', '--field', '30x16', '--tick-rate', '8', '--static', dir,
    '--round-seconds', '4', '--standings-seconds', '1']);
  const c = await t.context();
  const old = await newPage(c);
  await old.goto(srv.url + '/v1.html');
  await old.locator('#playerName').fill('oldie');
  await old.getByRole('button', { name: 'Connect' }).click();
  await old.getByText('Welcome to the server, oldie! Invite some friends and Join.').waitFor();
  const modern = await openPlayer(c, srv, 'modern', { join: true });
  await modern.getByLabel('Message', { exact: true }).fill('hello old page');
  await modern.getByRole('button', { name: 'Send' }).click();
  await old.getByRole('button', { name: 'Join!' }).click();
  // Its snake is drawn in its table and moves; the arrows steer it.
  const heads = () => old.evaluate(() => Array.from(document.querySelectorAll('#world td'))
    .filter((td) => td.textContent === '%').map((td) => td.id).sort().join(' '));
  await old.locator('#activePlayers', { hasText: 'oldie' }).waitFor();
  await old.locator('#activePlayers', { hasText: 'modern' }).waitFor();
  const h0 = await heads();
  await old.waitForFunction((h) => Array.from(document.querySelectorAll('#world td'))
    .filter((td) => td.textContent === '%').map((td) => td.id).sort().join(' ') !== h, h0);
  await old.keyboard.press('ArrowUp');
  await old.keyboard.press('ArrowLeft');
  // The round ends (p_died, round_end, watching...): its snake dies, and
  // Join! comes back for the next round.
  await old.locator('#btnJoin').evaluate((b) => new Promise((resolve) => {
    const check = () => (getComputedStyle(b).visibility === 'visible' ? resolve() : setTimeout(check, 50));
    check();
  }));
  // Join! again, as a person would, until it takes (joins wait while a
  // round's standings show).
  const n0 = old.wsFrames.length;
  for (let i = 0; ; i++) {
    await old.getByRole('button', { name: 'Join!' }).click();
    try {
      await old.locator('#activePlayers', { hasText: 'oldie' }).waitFor({ timeout: 700 });
      break;
    } catch (e) {
      if (i >= 8) throw e;
    }
  }
  assert(old.wsFrames.slice(n0).some((f) => f.includes('"p_joined"')), 'joined again');
  const seen = new Set(old.wsFrames.flatMap((f) => JSON.parse(f)).filter(Array.isArray).map((cmd) => cmd[0]));
  for (const ext of ['room_info', 'watching', 'chat', 'round', 'p_died'])
    assert(seen.has(ext), `the old page was sent ${ext} (saw ${[...seen]})`);
  assertEq(old.errors, [], 'no errors in the original page');
}, { timeoutMs: 30000 });
