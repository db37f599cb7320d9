'use strict';
/* The admin console in headless Chromium: the page does nothing without
 * the token, refuses a wrong one, lists the rooms and their players, sends
 * an announcement that a player's page shows as text, and kicks a player,
 * whose page says why and does not reconnect. */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { test, assert, newPage, openPlayer, state } = require('./lib');

const TOKEN = 'browser-test-token-0123456789';

function tokenFile(ctx) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snakepit-admin-'));
  ctx.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'token');
  fs.writeFileSync(file, TOKEN + '\n');
  return file;
}

test('admin console: token, rooms, announcement, kick', async (t) => {
  const srv = await t.server(['--admin-token-file', tokenFile(t), '--tick-rate', '10']);
  const c = await t.context();
  const player = await openPlayer(c, srv, 'gus', { room: 'adm', join: true });

  const admin = await newPage(c);
  await admin.goto(srv.url + '/admin');
  // Nothing happens without the token: no call to the API at all.
  await admin.getByRole('button', { name: 'Refresh' }).click();
  await admin.getByText('Enter the admin token first').waitFor();
  assert(!admin.requests.some((p) => p.startsWith('/admin/api/')), 'an API call without a token: ' + admin.requests);

  // A wrong token is refused, and said so.
  await admin.getByLabel('Admin token').fill('not-the-token-at-all');
  await admin.getByRole('button', { name: 'Use token' }).click();
  await admin.getByText(/Refused \(403\): wrong admin token/).waitFor();

  // The right one: the room and its player.
  await admin.getByLabel('Admin token').fill(TOKEN);
  await admin.getByRole('button', { name: 'Use token' }).click();
  await admin.getByText(/^Signed in: 1 rooms$/).waitFor();
  await admin.getByRole('heading', { name: /^adm \(1 connected, 1 snakes\)$/ }).waitFor();
  await admin.getByRole('button', { name: 'Kick gus' }).waitFor();

  // An announcement to every room: shown as text in the player's page.
  const text = '<b>Maintenance</b> at 10:00 & back soon';
  await admin.getByLabel('Text').fill(text);
  await admin.getByRole('button', { name: 'Send announcement' }).click();
  await admin.getByText('Announcement sent to every room').waitFor();
  await player.waitForFunction((t) => window.snakepit.state.announcements.includes(t), text);
  const shown = await player.locator('#chat-log li.announce .chat-text').last().textContent();
  assert(shown === text, 'announcement shown as ' + shown);
  assert(await player.locator('#chat-log b').count() === 0, 'the announcement became markup');

  // Kick: the player's page says why and stays away.
  await admin.getByRole('button', { name: 'Kick gus' }).click();
  await admin.getByText('Kicked gus from adm').waitFor();
  await player.waitForFunction(() => window.snakepit.state.removed !== null);
  const s = await state(player);
  assert(s.removed === 'You were removed by an administrator: Kicked by an administrator', s.removed);
  await player.getByText('You were removed by an administrator: Kicked by an administrator').first().waitFor();
  await new Promise((r) => setTimeout(r, 1500));
  const after = await state(player);
  assert(after.status !== 'reconnecting' && after.status !== 'connected', 'it came back: ' + after.status);
  // The list follows.
  await admin.getByRole('button', { name: 'Refresh' }).click();
  await admin.getByText(/^Signed in: (0|1) rooms$/).waitFor();
  assert(admin.errors.length === 0 && player.errors.length === 0, admin.errors.concat(player.errors).join('\n'));
  assert(!srv.lines.some((l) => l.includes(TOKEN)), 'the token is in the log');
}, { timeoutMs: 40000 });
