// A standard JWKS client that is not ours, panva's `jose`, verifies the `users` example's access
// tokens from `/.well-known/jwks.json` alone (tokens-http.md, "Key sets, `kid`, JWKS"): for an
// Ed25519, a P-256 and an RSA signing key, and for a rotated set whose old key still verifies.
// It is also shown what it must refuse: a tampered token, and a token whose kid the set lacks.
//
//   cargo build -p users-example
//   npm ci --prefix tests/jwks_client && node --test tests/jwks_client/jwks_client.test.mjs
//
// EXAMPLES_DIR (default target/debug) changes where the binary is taken from.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, calculateJwkThumbprint, createRemoteJWKSet, decodeProtectedHeader, generateKeyPair, jwtVerify } from 'jose';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLES = process.env.EXAMPLES_DIR ?? path.join(ROOT, 'target/debug');
const KEYS = path.join(ROOT, 'tests/fixtures/keys');
const HOST = '127.0.0.1';
const AUDIENCE = 'fastapi-users:auth';
const PASSWORD = 'a long enough password';

let scratch;
before(() => { scratch = mkdtempSync(path.join(tmpdir(), 'jwks-client-')); });
after(() => { if (scratch) rmSync(scratch, { recursive: true, force: true }); });

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The users example with these key files (the first signs) on its own SQLite database. */
async function startUsers(t, keyFiles) {
  const port = await freePort();
  const db = path.join(scratch, `${randomUUID()}.db`);
  const child = spawn(path.join(EXAMPLES, 'users'), [], {
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      RUST_LOG: 'warn',
      DATABASE_URL: `sqlite://${db}`,
      JWT_PRIVATE_KEYS: keyFiles.map((f) => path.join(KEYS, f)).join(','),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  let exited = null;
  child.on('exit', (code, signal) => { exited = code ?? signal; });
  t.after(() => child.kill());
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) throw new Error(`users exited (${exited}):\n${stderr}`);
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, HOST, () => { socket.end(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`users did not listen:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return `http://${HOST}:${port}`;
}

/** Registers a fresh user and returns an access token of the bearer login. */
async function accessToken(base) {
  const email = `jwks-${randomUUID()}@example.com`;
  const registered = await fetch(`${base}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(registered.status, 201, await registered.text());
  const login = await fetch(`${base}/auth/jwt/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: email, password: PASSWORD }),
  });
  const body = await login.text();
  assert.equal(login.status, 200, body);
  return JSON.parse(body).access_token;
}

for (const [file, alg] of [['ed25519_a.pem', 'EdDSA'], ['p256.pem', 'ES256'], ['rsa2048.pem', 'RS256']]) {
  test(`jose verifies an ${alg} access token from the JWKS URL alone`, async (t) => {
    const base = await startUsers(t, [file]);
    const token = await accessToken(base);
    const jwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { audience: AUDIENCE });
    assert.equal(protectedHeader.alg, alg);
    assert.match(protectedHeader.kid, /^[A-Za-z0-9_-]{43}$/);
    assert.match(payload.sub, /^[0-9a-f-]{36}$/);

    // The kid is the RFC 7638 SHA-256 thumbprint of the key, as jose computes it.
    const { keys } = await (await fetch(`${base}/.well-known/jwks.json`)).json();
    assert.equal(keys.length, 1);
    assert.equal(await calculateJwkThumbprint(keys[0], 'sha256'), keys[0].kid);
    assert.equal(keys[0].kid, protectedHeader.kid);

    // A tampered payload fails, so the verification above is a real one.
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.sub = '00000000-0000-0000-0000-000000000000';
    const tampered = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
    await assert.rejects(jwtVerify(tampered, jwks, { audience: AUDIENCE }), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });
}

test('jose verifies tokens of both keys of a rotated set, and refuses a kid the set lacks', async (t) => {
  const old = await startUsers(t, ['ed25519_a.pem']);
  const oldToken = await accessToken(old);
  const rotated = await startUsers(t, ['p256.pem', 'ed25519_a.pem']);
  const newToken = await accessToken(rotated);
  const jwks = createRemoteJWKSet(new URL(`${rotated}/.well-known/jwks.json`));
  const verifiedOld = await jwtVerify(oldToken, jwks, { audience: AUDIENCE });
  const verifiedNew = await jwtVerify(newToken, jwks, { audience: AUDIENCE });
  assert.equal(verifiedOld.protectedHeader.alg, 'EdDSA');
  assert.equal(verifiedNew.protectedHeader.alg, 'ES256');
  assert.notEqual(verifiedOld.protectedHeader.kid, verifiedNew.protectedHeader.kid);

  // A key of jose's own making, with a kid of its own: the JWKS has no such key.
  const { privateKey } = await generateKeyPair('ES256');
  const foreign = await new SignJWT({ sub: verifiedNew.payload.sub, aud: AUDIENCE })
    .setProtectedHeader({ alg: 'ES256', kid: 'not-in-the-set' })
    .setExpirationTime('5m')
    .sign(privateKey);
  assert.equal(decodeProtectedHeader(foreign).kid, 'not-in-the-set');
  await assert.rejects(jwtVerify(foreign, jwks, { audience: AUDIENCE }), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
  // The same forgery under the set's real kid fails its signature check.
  const underRealKid = await new SignJWT({ sub: verifiedNew.payload.sub, aud: AUDIENCE })
    .setProtectedHeader({ alg: 'ES256', kid: verifiedNew.protectedHeader.kid })
    .setExpirationTime('5m')
    .sign(privateKey);
  await assert.rejects(jwtVerify(underRealKid, jwks, { audience: AUDIENCE }), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
});
