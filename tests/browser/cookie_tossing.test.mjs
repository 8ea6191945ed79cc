// Cookie tossing in real Chromium (issue 11, item 3), against the built example binaries.
//
// An attacker's page on another port of the same host writes the auth cookie with a narrower
// path; cookies do not isolate ports, so Chromium sends it to the app, before the victim's own.
// The victim then logs in through the app's own page and acts there. The app must refuse the
// request (the two cookies authenticate nobody), clear both cookies, and leave the attacker's
// account untouched; logging in again then works as the victim.
//
//   cargo build -p users-example -p login-example
//   npm ci --prefix tests/browser && node --test tests/browser/cookie_tossing.test.mjs
//
// CHROMIUM (default /usr/bin/chromium, Debian's `chromium`), EXAMPLES_DIR (default
// target/debug) and SCREENSHOTS (a folder; unset: none) change the defaults.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLES = process.env.EXAMPLES_DIR ?? path.join(ROOT, 'target/debug');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = process.env.SCREENSHOTS;
const HOST = '127.0.0.1';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let browser;
let scratch;

before(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'cookie-tossing-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
});

after(async () => {
  await browser?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs an example binary on a free port with only `env` (no DATABASE_URL or REDIS_URL of the
 * caller's), and waits until it listens. */
async function startExample(t, name, env) {
  const port = await freePort();
  const child = spawn(path.join(EXAMPLES, name), [], {
    env: { PATH: process.env.PATH, PORT: String(port), RUST_LOG: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  let exited = null;
  child.on('exit', (code, signal) => { exited = code ?? signal; });
  t.after(() => child.kill());
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) throw new Error(`${name} exited (${exited}):\n${stderr}`);
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, HOST, () => { socket.end(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`${name} did not listen:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { base: `http://${HOST}:${port}`, stderr: () => stderr };
}

/** The attacker's site: another port of the same host, whose page writes `cookie` from script
 * (or, with `{ header: true }`, whose server sends it in `Set-Cookie`, which may also replace an
 * HttpOnly cookie). */
async function attackerSite(t, cookie, { header = false } = {}) {
  const write = header ? '' : `document.cookie = ${JSON.stringify(cookie)}; `;
  const page = `<!doctype html><title>Free prizes</title><h1>Free prizes</h1>
<script>${write}document.body.dataset.tossed = "yes";</script>`;
  const server = http.createServer((_, res) => {
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      ...(header ? { 'set-cookie': cookie } : {}),
    });
    res.end(page);
  });
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  t.after(() => server.close());
  return `http://${HOST}:${server.address().port}/`;
}

async function post(url, body) {
  const form = body instanceof URLSearchParams;
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
    body: form ? body : JSON.stringify(body),
  });
}

async function screenshot(page, name) {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function cookiesNamed(context, url, name) {
  return (await context.cookies(url)).filter((c) => c.name === name);
}

// ---- the `users` example: FastAPI Users' cookie backend, `fastapiusersauth` ----

/** The app's own front end (served at the app's origin, as a FastAPI Users front end would be):
 * a cookie login form and a password change, both with `credentials: 'include'`. */
const FRONT_END = `<!doctype html><title>My account</title>
<form id=login><input id=email name=username><input id=password name=password type=password>
<button>Log in</button></form>
<form id=change><input id=new-password type=password><button>Change my password</button></form>
<pre id=result></pre>
<script>
const result = document.querySelector('#result');
async function show(step, res) {
  result.textContent = JSON.stringify({ step, status: res.status, body: await res.text() });
  result.dataset.step = step;
}
login.onsubmit = async (event) => {
  event.preventDefault();
  result.dataset.step = '';
  await show('login', await fetch('/auth/cookie/login', {
    method: 'POST', credentials: 'include', body: new URLSearchParams(new FormData(login)),
  }));
};
change.onsubmit = async (event) => {
  event.preventDefault();
  result.dataset.step = '';
  await show('change', await fetch('/users/me', {
    method: 'PATCH', credentials: 'include', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ password: document.querySelector('#new-password').value }),
  }));
};
</script>`;

async function step(page, name, act) {
  await act();
  await page.waitForSelector(`#result[data-step="${name}"]`, { timeout: 10_000 });
  const { status, body } = JSON.parse(await page.textContent('#result'));
  return { status, body };
}

test('users: a tossed fastapiusersauth cookie does not take the victim\'s password change', async (t) => {
  const app = await startExample(t, 'users', {
    DATABASE_URL: `sqlite://${path.join(scratch, `users-${randomUUID()}.db`)}`,
    SECRET: randomBytes(32).toString('hex'),
  });
  const attacker = { email: `attacker-${randomUUID()}@example.com`, password: 'the attacker password' };
  const victim = { email: `victim-${randomUUID()}@example.com`, password: 'the victim password' };
  const login = (who, password = who.password) =>
    post(`${app.base}/auth/jwt/login`, new URLSearchParams({ username: who.email, password }));
  for (const who of [attacker, victim]) {
    const res = await post(`${app.base}/auth/register`, who);
    assert.equal(res.status, 201, await res.text());
  }
  const res = await login(attacker);
  assert.equal(res.status, 200);
  const attackerToken = (await res.json()).access_token;

  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  // The victim visits the attacker's page first, which tosses its cookie at /users.
  await page.goto(await attackerSite(t, `fastapiusersauth=${attackerToken}; path=/users`));
  await page.waitForSelector('body[data-tossed="yes"]');
  await page.route(`${app.base}/app`, (route) =>
    route.fulfill({ contentType: 'text/html; charset=utf-8', body: FRONT_END }));
  await page.goto(`${app.base}/app`);

  const loggedIn = await step(page, 'login', async () => {
    await page.fill('#email', victim.email);
    await page.fill('#password', victim.password);
    await page.click('#login button');
  });
  assert.equal(loggedIn.status, 204, loggedIn.body);
  const held = await cookiesNamed(context, `${app.base}/users/me`, 'fastapiusersauth');
  assert.deepEqual(held.map((c) => c.path).sort(), ['/', '/users'],
    'the precondition: Chromium holds the tossed cookie beside the victim\'s');

  const newPassword = `the victim's new password ${randomUUID()}`;
  const changed = await step(page, 'change', async () => {
    await page.fill('#new-password', newPassword);
    await page.click('#change button');
  });
  await screenshot(page, 'users-after-tossed-change');
  assert.equal(changed.status, 401, `the change must be refused, got: ${changed.body}`);
  assert.deepEqual(JSON.parse(changed.body), { detail: 'Unauthorized' });
  assert.equal((await login(attacker)).status, 200, 'the attacker\'s password is unchanged');
  assert.equal((await login(attacker, newPassword)).status, 400, 'the new password is not the attacker\'s');
  assert.equal((await login(victim)).status, 200, 'nothing changed for the victim either');
  assert.deepEqual(await cookiesNamed(context, `${app.base}/users/me`, 'fastapiusersauth'), [],
    'the refusal cleared both cookies');

  // Logged in again, the victim's change goes to the victim's account.
  const again = await step(page, 'login', async () => { await page.click('#login button'); });
  assert.equal(again.status, 204, again.body);
  const mine = await step(page, 'change', async () => { await page.click('#change button'); });
  assert.equal(mine.status, 200, mine.body);
  assert.equal(JSON.parse(mine.body).email, victim.email);
  assert.equal((await login(victim, newPassword)).status, 200);
  assert.equal((await login(attacker)).status, 200);
});

test('users with COOKIE_NAME=__Host-fastapiusersauth: Chromium itself refuses the narrower-path toss', async (t) => {
  const name = '__Host-fastapiusersauth';
  const app = await startExample(t, 'users', {
    DATABASE_URL: `sqlite://${path.join(scratch, `users-${randomUUID()}.db`)}`,
    SECRET: randomBytes(32).toString('hex'),
    COOKIE_NAME: name,
  });
  const attacker = { email: `attacker-${randomUUID()}@example.com`, password: 'the attacker password' };
  const victim = { email: `victim-${randomUUID()}@example.com`, password: 'the victim password' };
  for (const who of [attacker, victim]) {
    assert.equal((await post(`${app.base}/auth/register`, who)).status, 201);
  }
  const res = await post(`${app.base}/auth/jwt/login`,
    new URLSearchParams({ username: attacker.email, password: attacker.password }));
  const attackerToken = (await res.json()).access_token;

  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(await attackerSite(t, `${name}=${attackerToken}; path=/users; secure`));
  await page.waitForSelector('body[data-tossed="yes"]');
  assert.deepEqual(await cookiesNamed(context, `${app.base}/users/me`, name), [],
    'a __Host- cookie with Path=/users is dropped by the browser');

  await page.route(`${app.base}/app`, (route) =>
    route.fulfill({ contentType: 'text/html; charset=utf-8', body: FRONT_END }));
  await page.goto(`${app.base}/app`);
  const loggedIn = await step(page, 'login', async () => {
    await page.fill('#email', victim.email);
    await page.fill('#password', victim.password);
    await page.click('#login button');
  });
  assert.equal(loggedIn.status, 204, loggedIn.body);
  const [held] = await cookiesNamed(context, `${app.base}/users/me`, name);
  assert.ok(held.secure && held.path === '/' && held.httpOnly, JSON.stringify(held));
  const changed = await step(page, 'change', async () => {
    await page.fill('#new-password', `the victim's new password ${randomUUID()}`);
    await page.click('#change button');
  });
  assert.equal(changed.status, 200, changed.body);
  assert.equal(JSON.parse(changed.body).email, victim.email);

  // What __Host- does not do (SECURITY.md): ports are not isolated by cookies, so a server on
  // another port of the same host can still replace the cookie at Path=/ (its script cannot:
  // the cookie is HttpOnly).
  const other = await context.newPage();
  await other.goto(await attackerSite(t, `${name}=${attackerToken}; Path=/; Secure; HttpOnly`, { header: true }));
  await other.waitForSelector('body[data-tossed="yes"]');
  const [replaced] = await cookiesNamed(context, `${app.base}/users/me`, name);
  assert.equal(replaced.value, attackerToken, 'another port replaced the __Host- cookie');
});

// ---- the `login` example: fastapi-login's `access-token` cookie and its dashboard ----

test('login: a tossed access-token cookie does not show the victim the attacker\'s dashboard', async (t) => {
  const app = await startExample(t, 'login', { SECRET: randomBytes(32).toString('hex') });
  const res = await post(`${app.base}/auth/token`,
    new URLSearchParams({ username: 'admin@e.mail', password: 'admin-pass' }));
  assert.equal(res.status, 200);
  const attackerToken = (await res.json()).access_token;

  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(await attackerSite(t, `access-token=${attackerToken}; path=/dashboard`));
  await page.waitForSelector('body[data-tossed="yes"]');
  const tossed = await cookiesNamed(context, `${app.base}/dashboard`, 'access-token');
  assert.deepEqual(tossed.map((c) => c.path), ['/dashboard'], 'the precondition: the app\'s host has the tossed cookie');

  const logIn = async () => {
    await page.goto(`${app.base}/login`);
    await page.fill('input[name=username]', 'johndoe@e.mail');
    await page.fill('input[name=password]', 'hunter2');
    await Promise.all([page.waitForNavigation(), page.click('button')]);
  };
  await logIn();
  await screenshot(page, 'login-after-tossed-login');
  const text = await page.textContent('body');
  assert.ok(!text.includes('admin@e.mail'), `the attacker's dashboard was shown: ${text}`);
  assert.equal(new URL(page.url()).pathname, '/login', 'sent back to the login page');
  assert.deepEqual(await cookiesNamed(context, `${app.base}/dashboard`, 'access-token'), [],
    'the refusal cleared both cookies');

  await logIn();
  assert.equal(new URL(page.url()).pathname, '/dashboard');
  assert.match(await page.textContent('h1'), /Welcome, johndoe@e\.mail/);
});
