'use strict';
/* Screenshots for the README: each is written to build/screenshot-NAME.png;
 * with SNAKEPIT_UPDATE_DOCS=1 also to docs/, so that an ordinary test run
 * leaves the work tree clean. */
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');

async function shot(page, name) {
  const out = path.join(ROOT, 'build', `screenshot-${name}.png`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await page.screenshot({ path: out });
  if (fs.statSync(out).size < 5000) throw new Error(`screenshot ${name} is nearly empty`);
  if (process.env.SNAKEPIT_UPDATE_DOCS === '1') {
    fs.mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
    fs.copyFileSync(out, path.join(ROOT, 'docs', `screenshot-${name}.png`));
  }
  return out;
}

module.exports = { shot };
