// End-to-end check of oidc/provider.mjs without a browser:
//   node oidc/selftest.mjs
// Starts the provider on a free port and drives the authorization code + PKCE
// flow with fetch and a small cookie jar, reading redirects by hand.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { strict as assert } from 'node:assert';

import { createRemoteJWKSet, jwtVerify } from 'jose';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLIENT_ID = 'askfirst-test';
const CLIENT_SECRET = 'test-secret-123';
const REDIRECT_URI = 'http://127.0.0.1:1/cb'; // never fetched, only read from Location
const POST_LOGOUT_URI = 'http://127.0.0.1:1/signed-out';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oidc-selftest-'));
const usersFile = path.join(tmp, 'users.json');
const writeUsers = (aliceGroups) => writeFileSync(usersFile, JSON.stringify({
  alice: { password: 'alice-pw', groups: aliceGroups, email: 'alice@corp.example', name: 'Alice Example' },
  bob: { password: 'bob-pw', groups: [], email: 'bob@corp.example', name: 'Bob Example' },
}));

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    }).on('error', reject);
  });
}

// Start provider.mjs and wait for its `ready URL` line.
function startProvider(port) {
  const child = spawn(process.execPath, [path.join(here, 'provider.mjs'),
    '--port', String(port), '--users', usersFile, '--client-id', CLIENT_ID,
    '--client-secret', CLIENT_SECRET, '--redirect-uri', REDIRECT_URI,
    '--post-logout-uri', POST_LOGOUT_URI], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const ready = new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`provider not ready:\n${stderr}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('ready '));
      if (line) { clearTimeout(timer); resolve({ issuer: line.slice(6), out }); }
    });
    child.on('exit', (code) => reject(new Error(`provider exited ${code}:\n${stderr}`)));
  });
  return { child, ready, stderr: () => stderr };
}

// A minimal path-aware cookie jar (enough for oidc-provider's cookies).
class Jar {
  cookies = new Map(); // "name path" -> { name, value, path }
  store(res) {
    for (const header of res.headers.getSetCookie()) {
      const [pair, ...attrs] = header.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let cpath = '/';
      let expired = value === '';
      for (const a of attrs) {
        const [k, v] = a.split('=');
        if (k.toLowerCase() === 'path') cpath = v;
        if (k.toLowerCase() === 'expires' && new Date(v) <= new Date()) expired = true;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      const key = `${name} ${cpath}`;
      if (expired) this.cookies.delete(key);
      else this.cookies.set(key, { name, value, path: cpath });
    }
  }
  header(url) {
    const { pathname } = new URL(url);
    return [...this.cookies.values()]
      .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

async function request(jar, url, init = {}) {
  const res = await fetch(url, {
    ...init, redirect: 'manual', headers: { ...init.headers, cookie: jar.header(url) },
  });
  jar.store(res);
  return res;
}

// Follow redirects until a page is shown or we are sent to an RP address.
async function follow(jar, url, init) {
  let res = await request(jar, url, init);
  for (let hops = 0; res.status >= 300 && res.status < 400; hops += 1) {
    assert.ok(hops < 20, 'too many redirects');
    const next = new URL(res.headers.get('location'), url).href;
    if (next.startsWith('http://127.0.0.1:1/')) return { redirectedTo: new URL(next) };
    url = next;
    res = await request(jar, url);
  }
  return { res, url, html: await res.text() };
}

const LOGIN_FORM = /<label>Username <input name="login"[^>]*><\/label>[\s\S]*<label>Password <input type="password" name="password"[^>]*><\/label>[\s\S]*<button type="submit">Sign in<\/button>/;

function submitLogin(jar, page, login, password) {
  return follow(jar, page.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login, password }).toString(),
  });
}

function authUrl(config, { prompt, pkce = true } = {}) {
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(12));
  const nonce = b64url(randomBytes(12));
  const url = new URL(config.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, response_type: 'code',
    scope: 'openid profile email', state, nonce,
    ...(pkce ? { code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256' } : {}),
    ...(prompt ? { prompt } : {}),
  });
  return { url: url.href, verifier, state, nonce };
}

function codeFrom(redirectedTo, state) {
  assert.equal(`${redirectedTo.origin}${redirectedTo.pathname}`, REDIRECT_URI);
  assert.equal(redirectedTo.searchParams.get('error'), null, redirectedTo.href);
  assert.equal(redirectedTo.searchParams.get('state'), state);
  const code = redirectedTo.searchParams.get('code');
  assert.ok(code, 'no code');
  return code;
}

// auth: 'basic' (client_secret_basic), 'post' (client_secret_post) or a wrong secret via basic.
function exchange(config, code, verifier, auth = 'basic') {
  const params = {
    grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier,
  };
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth === 'post') {
    Object.assign(params, { client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
  } else {
    const enc = encodeURIComponent;
    const secret = auth === 'basic' ? CLIENT_SECRET : auth;
    headers.authorization = `Basic ${Buffer.from(`${enc(CLIENT_ID)}:${enc(secret)}`).toString('base64')}`;
  }
  return fetch(config.token_endpoint, { method: 'POST', headers, body: new URLSearchParams(params) });
}

async function idTokenFor(config, jwks, code, verifier, nonce, auth = 'basic') {
  const res = await exchange(config, code, verifier, auth);
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  const { payload, protectedHeader } = await jwtVerify(body.id_token, jwks, {
    issuer: config.issuer, audience: CLIENT_ID,
  });
  assert.equal(protectedHeader.alg, 'RS256');
  assert.equal(payload.nonce, nonce);
  return payload;
}

async function main() {
  writeUsers(['askfirst-approvers']);
  const port = await freePort();
  const { child, ready, stderr } = startProvider(port);
  try {
    const { issuer, out } = await ready;
    assert.equal(issuer, `http://127.0.0.1:${port}`);
    assert.equal(out, `ready ${issuer}\n`);

    // Discovery.
    const config = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
    assert.equal(config.issuer, issuer);
    assert.equal(config.jwks_uri, `${issuer}/jwks`);
    assert.equal(config.token_endpoint, `${issuer}/token`);
    assert.equal(config.end_session_endpoint, `${issuer}/session/end`);
    assert.ok(config.code_challenge_methods_supported.includes('S256'));
    const jwks = createRemoteJWKSet(new URL(config.jwks_uri));
    console.log('discovery ok');

    // PKCE is required.
    {
      const jar = new Jar();
      const { redirectedTo } = await follow(jar, authUrl(config, { pkce: false }).url);
      assert.equal(redirectedTo.searchParams.get('error'), 'invalid_request');
      console.log(`no PKCE rejected: ${redirectedTo.searchParams.get('error_description')}`);
    }

    const jar = new Jar();
    // Sign in: wrong password first, then the right one on the same form.
    const a1 = authUrl(config);
    let page = await follow(jar, a1.url);
    assert.equal(page.res.status, 200);
    assert.match(new URL(page.url).pathname, /^\/interaction\/[^/]+$/);
    assert.match(page.html, LOGIN_FORM);
    for (const [login, password] of [['alice', 'nope'], ['mallory', 'alice-pw']]) {
      const wrong = await submitLogin(jar, page, login, password);
      assert.equal(wrong.res.status, 200);
      assert.match(wrong.html, /Wrong username or password/);
      assert.match(wrong.html, LOGIN_FORM);
    }
    console.log('wrong password shows the error');
    const ok = await submitLogin(jar, page, 'alice', 'alice-pw');
    const code1 = codeFrom(ok.redirectedTo, a1.state);
    assert.equal(ok.redirectedTo.searchParams.get('iss'), issuer);

    // A wrong client secret is refused (and does not burn the code).
    const badSecret = await exchange(config, code1, a1.verifier, 'wrong-secret');
    assert.equal(badSecret.status, 401);
    assert.equal((await badSecret.json()).error, 'invalid_client');

    const t1 = await idTokenFor(config, jwks, code1, a1.verifier, a1.nonce);
    assert.equal(t1.sub, 'sub-alice');
    assert.equal(t1.preferred_username, 'alice');
    assert.equal(t1.name, 'Alice Example');
    assert.equal(t1.email, 'alice@corp.example');
    assert.equal(t1.email_verified, true);
    assert.deepEqual(t1.groups, ['askfirst-approvers']);
    console.log(`id token ok: ${JSON.stringify({ sub: t1.sub, preferred_username: t1.preferred_username, groups: t1.groups })}`);

    // A code is single-use.
    const again = await exchange(config, code1, a1.verifier);
    assert.equal(again.status, 400);
    assert.equal((await again.json()).error, 'invalid_grant');
    console.log('code reuse rejected: invalid_grant');

    // Change alice's groups; prompt=login shows the form again despite the session.
    writeUsers(['askfirst-requesters', 'staff']);
    const a2 = authUrl(config, { prompt: 'login' });
    page = await follow(jar, a2.url);
    assert.match(page.html, LOGIN_FORM);
    const ok2 = await submitLogin(jar, page, 'alice', 'alice-pw');
    const t2 = await idTokenFor(config, jwks, codeFrom(ok2.redirectedTo, a2.state), a2.verifier, a2.nonce);
    assert.equal(t2.sub, 'sub-alice');
    assert.deepEqual(t2.groups, ['askfirst-requesters', 'staff']);
    console.log(`prompt=login re-sign-in ok, new groups: ${JSON.stringify(t2.groups)}`);

    // Without prompt=login, the OP session signs in silently (no form);
    // this time the code is exchanged with client_secret_post, also accepted.
    const a3 = authUrl(config);
    const sso = await follow(jar, a3.url);
    assert.ok(sso.redirectedTo, 'expected a silent sign-in');
    const t3 = await idTokenFor(config, jwks, codeFrom(sso.redirectedTo, a3.state), a3.verifier, a3.nonce, 'post');
    assert.equal(t3.sub, 'sub-alice');
    console.log('silent sign-in with existing session ok (client_secret_post)');

    // prompt=login as another user ends alice's session and signs bob in,
    // with no intermediate page; the next silent sign-in is bob's.
    const a4 = authUrl(config, { prompt: 'login' });
    page = await follow(jar, a4.url);
    const ok4 = await submitLogin(jar, page, 'bob', 'bob-pw');
    assert.ok(ok4.redirectedTo, `switching user showed a page: ${ok4.html}`);
    const t4 = await idTokenFor(config, jwks, codeFrom(ok4.redirectedTo, a4.state), a4.verifier, a4.nonce);
    assert.equal(t4.sub, 'sub-bob');
    assert.deepEqual(t4.groups, []);
    const a5 = authUrl(config);
    const sso5 = await follow(jar, a5.url);
    const t5 = await idTokenFor(config, jwks, codeFrom(sso5.redirectedTo, a5.state), a5.verifier, a5.nonce);
    assert.equal(t5.sub, 'sub-bob');
    console.log('switching user with prompt=login ok');

    // RP-initiated logout with client_id + post_logout_redirect_uri, no id_token_hint.
    const logout = new URL(config.end_session_endpoint);
    logout.search = new URLSearchParams({
      client_id: CLIENT_ID, post_logout_redirect_uri: POST_LOGOUT_URI, state: 'bye-1',
    });
    const out1 = await follow(jar, logout.href);
    assert.ok(out1.redirectedTo, `logout showed a page: ${out1.html}`);
    assert.equal(`${out1.redirectedTo.origin}${out1.redirectedTo.pathname}`, POST_LOGOUT_URI);
    assert.equal(out1.redirectedTo.searchParams.get('state'), 'bye-1');
    // The session is gone: signing in shows the login form again.
    page = await follow(jar, authUrl(config).url);
    assert.match(page.html, LOGIN_FORM);
    // Logging out with no session also redirects straight back.
    const out2 = await follow(new Jar(), logout.href);
    assert.equal(out2.redirectedTo?.searchParams.get('state'), 'bye-1');
    console.log('logout redirects to post_logout_redirect_uri, session ended');
  } catch (err) {
    console.error(`provider stderr:\n${stderr()}`);
    throw err;
  } finally {
    child.kill('SIGTERM');
    const code = child.exitCode ?? await new Promise((resolve) => child.on('exit', resolve));
    rmSync(tmp, { recursive: true, force: true });
    assert.equal(code, 0, `provider exit code ${code}`);
  }
  console.log('selftest ok');
}

main().then(() => process.exit(0), (err) => {
  console.error('selftest FAILED:', err);
  process.exit(1);
});
