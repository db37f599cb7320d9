'use strict';
/* Browser tests of the web client (web/) against the real server, in
 * headless Chromium. Run through tests/browser/run.sh; pass test names as
 * arguments to run only those. */
const {
  test, run, assert, assertEq, openPlayer, joinGame, playButton, state, headMotion, turnAndCheck, withRejoin,
  eatADigit, autopilot, waitTicks, runIntoWall, names, canvasPixels, ARROW,
} = require('./lib');
const { shot } = require('./shots');

const XSS = '<img src=x onerror=alert(1)>';

test('two players in one room see each other, the canvas moves, arrows steer', async (t) => {
  const srv = await t.server(['--seed', '1', '--field', '40x20', '--tick-rate', '4']);
  const c = await t.context();
  const alice = await openPlayer(c, srv, 'alice');
  const bob = await openPlayer(c, srv, 'bob');
  // A new snake has at least five moves before it can reach a wall: join
  // both at once and do the timing-sensitive checks first.
  await Promise.all([joinGame(alice), joinGame(bob)]);
  await alice.locator('#players .who', { hasText: 'bob' }).waitFor();
  await bob.locator('#players .who', { hasText: 'alice' }).waitFor();
  assertEq((await names(bob, 'players')).sort(), ['alice', 'bob'], 'bob sees both players');
  // An arrow key turns the snake: the head then moves in the new direction.
  await withRejoin(bob, () => turnAndCheck(bob, (code) => bob.keyboard.press(ARROW[code])));

  // The canvas changes from one tick to the next while a snake moves.
  const s0 = await state(bob);
  const px0 = await canvasPixels(bob);
  await bob.waitForFunction((t0) => window.snakepit.state.ticks >= t0 + 1, s0.ticks);
  const px1 = await canvasPixels(bob);
  assert(px0 !== px1, 'canvas pixels differ between ticks');
  assert(s0.canvas.width > 0 && s0.canvas.width === s0.canvas.cell * s0.width, 'canvas is a whole number of cells wide');
  assertEq(s0.canvas.cell * s0.height, s0.canvas.height, 'cells are square');
  // Playing with the keys never scrolls the page.
  assertEq(await bob.evaluate(() => [window.scrollX, window.scrollY]), [0, 0], 'page did not scroll');
  assert(alice.errors.length === 0 && bob.errors.length === 0, 'no page errors: ' + alice.errors.concat(bob.errors));
});

test('a snake that hits the wall dies: the card says why, with its score and best; Play again', async (t) => {
  // 30 columns: GAME OVER (19 characters, centred) leaves both side walls visible.
  const srv = await t.server(['--seed', '7', '--field', '30x14', '--tick-rate', '8']);
  const c = await t.context();
  const page = await openPlayer(c, srv, 'carol', { join: true });
  assert(await playButton(page).isHidden(), 'no Play while the snake lives');
  const score = await withRejoin(page, () => eatADigit(page));
  assert(score > 0, 'scored');
  // The players list shows the live score (while the snake lives).
  const row0 = await page.locator('#players li', { hasText: 'carol' }).locator('.score').allTextContents();
  if ((await state(page)).alive) assertEq(row0, [String((await state(page)).players.find((p) => p.name === 'carol').score)], 'live score');
  await runIntoWall(page);
  await page.waitForFunction(() => !window.snakepit.state.alive);
  const s = await state(page);
  let deadOnBorder = false;
  for (let y = 0; y < s.height; y++)
    for (let x = 0; x < s.width; x++)
      if (s.grid[y][x][0] === 'x' && s.grid[y][x][1] === 0 &&
          (x === 0 || y === 0 || x === s.width - 1 || y === s.height - 1)) deadOnBorder = true;
  assert(deadOnBorder, 'the dead head (x) lies against the wall');
  // The card on the field: why, the score of that life and the best, and
  // a big Play again.
  const card = page.getByRole('region', { name: 'You hit the wall' });
  await card.waitFor();
  assertEq(await card.locator('#overlay-text').textContent(), `Score ${score} \u00b7 Best ${score}`, 'score and best');
  await page.getByRole('button', { name: 'Play again' }).waitFor({ state: 'visible' });
  const row = page.locator('#top-scores li', { hasText: 'carol' });
  await row.waitFor();
  assertEq(await row.locator('.score').textContent(), String(score), 'top scores show the score');
  // Its swatch has the snake's colour (the player keeps it from life to life).
  const s1 = await state(page);
  const swatch = await row.locator('.swatch').evaluate((e) => getComputedStyle(e).backgroundColor);
  const want = await page.evaluate((c) => { const e = document.createElement('i'); e.style.color = ['#aeb6c2', '#ff6b6b', '#4ade80', '#60a5fa', '#facc15', '#e879f9', '#22d3ee'][c]; document.body.append(e); const v = getComputedStyle(e).color; e.remove(); return v; }, s1.myColor);
  assertEq(swatch, want, 'the top-scores swatch shows the snake colour');
  await shot(page, 'death');
  const api = await srv.getJson('/api/scores');
  assert(api.scores.some((r) => r.name === 'carol' && r.score === score), '/api/scores has it: ' + JSON.stringify(api));
  // The player can play again, in the same colour.
  await joinGame(page);
  assertEq((await state(page)).myColor, s1.myColor, 'same colour in the next life');
});

test('two rooms are isolated', async (t) => {
  const srv = await t.server(['--seed', '3', '--field', '24x14', '--tick-rate', '5']);
  const c = await t.context();
  const a = await openPlayer(c, srv, 'anna', { room: 'alpha' });
  const b = await openPlayer(c, srv, 'ben', { room: 'beta-2' });
  await Promise.all([joinGame(a), joinGame(b)]);
  // Both snakes are alive now: each field shows exactly one head, its own.
  for (const p of [a, b]) {
    const heads = await p.evaluate(() => window.snakepit.state.grid.flat().filter((c) => c[0] === '%').length);
    assertEq(heads, 1, 'one snake head on each field');
  }
  assertEq(await names(a, 'players'), ['anna'], 'alpha lists only anna');
  assertEq(await names(b, 'players'), ['ben'], 'beta-2 lists only ben');
  const api = await srv.getJson('/api/rooms');
  const byName = Object.fromEntries(api.rooms.map((r) => [r.name, r]));
  assert(byName.alpha && byName.alpha.snakes === 1 && byName['beta-2'] && byName['beta-2'].snakes === 1,
    '/api/rooms shows both rooms with one snake each: ' + JSON.stringify(api));
  await Promise.all([waitTicks(a, 3), waitTicks(b, 3)]);
  // Nothing of one room ever reached the other.
  assert(a.wsFrames.length > 3 && !a.wsFrames.some((f) => f.includes('ben')), 'alpha never heard of ben');
  assert(b.wsFrames.length > 3 && !b.wsFrames.some((f) => f.includes('anna')), 'beta-2 never heard of anna');
  // The start screen lists the open rooms; clicking one picks it.
  const lobby = await c.newPage();
  await lobby.goto(srv.url + '/');
  await lobby.getByRole('button', { name: /beta-2/ }).click();
  assertEq(await lobby.getByLabel(/Room/).inputValue(), 'beta-2', 'clicking a room fills the room field');
  // The room field accepts only the allowed characters.
  await lobby.getByLabel(/Room/).fill('');
  await lobby.getByLabel(/Room/).pressSequentially('a b/c<d>');
  assertEq(await lobby.getByLabel(/Room/).inputValue(), 'abcd', 'room field drops other characters');
});

test('names full of markup are shown as text and run nothing', async (t) => {
  const srv = await t.server(['--seed', '5', '--field', '24x14', '--tick-rate', '5']);
  const c = await t.context();
  // Names keep at most 15 characters (PROTOCOL.md), so the full XSS name is
  // stored as its first 15 characters; a shorter one fits whole.
  const stored = Array.from(XSS).slice(0, 15).join('');
  const viewer = await openPlayer(c, srv, 'dave');
  const evil = await openPlayer(c, srv, XSS);
  const bold = await openPlayer(c, srv, '<b>B</b><i>I');
  await Promise.all([joinGame(evil), joinGame(bold)]);
  await viewer.locator('#players .who', { hasText: stored }).waitFor();
  await viewer.locator('#players .who', { hasText: '<b>B</b><i>I' }).waitFor();
  const seen = await names(viewer, 'players');
  assert(seen.includes(stored) && seen.includes('<b>B</b><i>I'), 'the names appear literally: ' + JSON.stringify(seen));
  assert((await names(evil, 'players')).includes(stored), 'the name appears literally for its owner');
  assert((await evil.locator('#status').textContent()).includes(stored), 'the status line shows the name literally');
  // A page that connects later learns the live snakes from the server's
  // greeting; the autopilot keeps the XSS snake alive meanwhile.
  let done = false;
  const keep = withRejoin(evil, () => autopilot(evil, { until: () => done }), 4);
  keep.catch(() => {});
  const late = await openPlayer(c, srv, 'erin');
  await late.locator('#players .who', { hasText: stored }).waitFor();
  done = true;
  await keep;
  // Give an injected image time to fail to load and fire onerror.
  await waitTicks(viewer, 3);
  for (const p of [viewer, evil, bold, late]) {
    assertEq(await p.locator('img, b, i').count(), 0, 'no element injected');
    assertEq(await p.locator('script').count(), 1, 'no script injected');
    assertEq(p.dialogs, [], 'no dialog opened');
  }
});

test('a refused join shows the server error until a place is free; Leave; the name is remembered', async (t) => {
  const srv = await t.server(['--seed', '2', '--field', '24x14', '--tick-rate', '10', '--max-players', '1']);
  const c = await t.context();
  const erin = await openPlayer(c, srv, 'erin', { join: true });
  const late = await openPlayer(c, srv, 'frank');
  await playButton(late).click();
  await late.locator('#status', { hasText: 'Maximum players reached' }).waitFor();
  await late.getByText('The room is full: you can watch until a place is free.').waitFor();
  await playButton(late).waitFor({ state: 'visible' });
  assert(await playButton(late).isEnabled(), 'Play can be pressed again');
  // The message goes once it is no longer true: erin leaves, a place is free.
  await erin.getByRole('button', { name: 'Leave' }).click();
  await late.locator('#status', { hasText: 'Connected to room default as frank' }).waitFor({ timeout: 5000 });
  assert(!(await late.locator('#status').textContent()).includes('Maximum'), 'the error cleared');
  // Leave goes back to the start screen for good; the name is remembered.
  await late.getByRole('button', { name: 'Leave' }).click();
  await late.getByRole('button', { name: 'Play', exact: true }).waitFor();
  await late.waitForFunction(() => window.snakepit.state.status === 'idle');
  await late.reload();
  assertEq(await late.getByLabel(/Your name/).inputValue(), 'frank', 'name remembered across visits');
  assertEq((await state(late)).status, 'idle', 'no connection after Leave and reload');
});

test('the page reconnects by itself after the server restarts, and plays again', async (t) => {
  const args = ['--seed', '4', '--field', '24x14', '--tick-rate', '10'];
  const first = await t.server(args);
  const c = await t.context();
  const page = await openPlayer(c, first, 'gina', { room: 'phoenix', join: true });
  await headMotion(page);
  await first.stop('SIGKILL');
  await page.waitForFunction(() => window.snakepit.state.status === 'reconnecting');
  await page.locator('#status', { hasText: /Connection lost\. Reconnecting/ }).waitFor();
  assert(await playButton(page).isHidden(), 'no Play while disconnected');
  const second = await t.server(args, { port: first.port, data: first.data });
  await page.waitForFunction(() => window.snakepit.state.status === 'connected' && window.snakepit.state.connections === 2,
    null, { timeout: 15000 });
  const s = await state(page);
  assertEq([s.myName, s.room], ['gina', 'phoenix'], 'same name and room after reconnecting');
  assert(s.width === 24 && s.height === 14 && s.grid.length === 14, 'field rebuilt from world');
  // It says that the server restarted (a new boot id) and that the snake is gone.
  await page.locator('#status', { hasText: 'The server restarted. Your snake is gone: press Play to join again.' }).waitFor();
  await joinGame(page);
  await page.locator('#status', { hasText: 'Connected to room phoenix as gina' }).waitFor();
  await withRejoin(page, () => turnAndCheck(page, (code) => page.keyboard.press(ARROW[code])));
  assert(second.port === first.port, 'same port');
});

test('touch: a swipe and the on-screen arrows turn the snake; crisp at devicePixelRatio 2', async (t) => {
  const srv = await t.server(['--seed', '6', '--field', '24x14', '--tick-rate', '5']);
  const c = await t.context({ viewport: { width: 390, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await openPlayer(c, srv, 'hana', { join: true });
  for (const n of ['Up', 'Down', 'Left', 'Right'])
    assert(await page.getByRole('button', { name: n, exact: true }).isVisible(), `on-screen ${n} button is shown`);
  const s = await state(page);
  assertEq(s.canvas.dpr, 2, 'devicePixelRatio seen');
  const css = await page.evaluate(() => document.getElementById('field').getBoundingClientRect().width);
  assert(Math.abs(css * 2 - s.canvas.width) < 1, `canvas backing store is 2x its CSS size (${s.canvas.width} vs ${css})`);

  const cdp = await c.newCDPSession(page);
  const box = await page.locator('#field').boundingBox();
  const swipe = async (code) => {
    const [dx, dy] = { 37: [-1, 0], 38: [0, -1], 39: [1, 0], 40: [0, 1] }[code];
    const x = box.x + box.width / 2, y = box.y + box.height / 2;
    const pt = (k) => [{ x: x + dx * k, y: y + dy * k, id: 1 }];
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: pt(0) });
    for (const k of [15, 30, 60]) await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: pt(k) });
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  };
  await withRejoin(page, () => turnAndCheck(page, swipe));
  const label = { 37: 'Left', 38: 'Up', 39: 'Right', 40: 'Down' };
  await withRejoin(page, () => turnAndCheck(page, (code) => page.getByRole('button', { name: label[code], exact: true }).tap()));
  assertEq(await page.evaluate(() => [window.scrollX, window.scrollY]), [0, 0], 'page did not scroll');

});

test('screenshot of a game in progress', async (t) => {
  const srv = await t.server(['--seed', '11', '--field', '40x20', '--tick-rate', '5']);
  const c = await t.context();
  const ivy = await openPlayer(c, srv, 'ivy', { room: 'showcase' });
  const jon = await openPlayer(c, srv, 'jon', { room: 'showcase' });
  const kim = await openPlayer(c, srv, 'kim', { room: 'showcase' });
  // kim eats a digit and crashes into a wall, which leaves a dead snake and a
  // top score; the others eat and keep playing.
  // ivy and jon play on (joining again if a stone or a crash kills them)
  // until the screenshot is taken.
  let done = false;
  const play = async (p) => {
    await joinGame(p);
    await withRejoin(p, () => autopilot(p, { until: () => done, timeoutMs: 40000 }), 6);
  };
  const crash = async (p) => {
    await joinGame(p);
    await withRejoin(p, () => eatADigit(p), 4);
    await runIntoWall(p);
  };
  const playing = Promise.all([play(ivy), play(jon)]);
  playing.catch(() => {});
  await crash(kim);
  await ivy.locator('#top-scores li', { hasText: 'kim' }).waitFor();
  await ivy.waitForFunction(() => window.snakepit.state.players.some((p) => p.name === 'ivy' && p.score >= 3),
    null, { timeout: 30000 });
  // A game in progress: ivy alive (the autopilot joins again after a death).
  await ivy.waitForFunction(() => window.snakepit.state.alive && window.snakepit.state.mine &&
    window.snakepit.state.players.length >= 2, null, { timeout: 20000 });
  await shot(ivy, 'game');
  done = true;
  await playing;
  const lobby = await c.newPage();
  await lobby.goto(srv.url + '/');
  await lobby.getByRole('button', { name: /showcase/ }).waitFor();
  await lobby.getByLabel(/Your name/).fill('lee');
  await shot(lobby, 'start');
}, { timeoutMs: 70000 });

require('./test_game');
require('./test_admin');
require('./test_cluster');

run().then((code) => process.exit(code), (e) => {
  console.log(String(e && e.stack || e));
  console.log('0 passed, 1 failed');
  process.exit(1);
});
