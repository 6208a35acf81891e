// A small, real OpenID Connect provider for the browser tests, built on
// oidc-provider (panva's certified implementation).
//
//   node oidc/provider.mjs --port N --users FILE --client-id ID \
//     --client-secret SECRET --redirect-uri URL [--post-logout-uri URL]
//
// Issuer: http://127.0.0.1:N (N may be 0: a free port is picked and printed).
// Prints exactly one line, `ready http://127.0.0.1:N`, on stdout once listening.
// USERS is JSON, re-read on every lookup:
//   { "alice": { "password": "pw", "groups": ["g"], "email": "...", "name": "..." } }
// The account id (`sub`) is "sub-" + username, deliberately not the username.

import http from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

// oidc-provider prints its notices with console.info; keep stdout for `ready`.
console.info = console.error;

const { values: opt } = parseArgs({
  options: {
    port: { type: 'string' },
    users: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string' },
    'post-logout-uri': { type: 'string' },
  },
});
for (const name of ['port', 'users', 'client-id', 'client-secret', 'redirect-uri']) {
  if (!opt[name]) {
    console.error(`missing --${name}`);
    process.exit(2);
  }
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The users file, read afresh each time (tests edit it between sign-ins).
function lookupUser(username) {
  const users = JSON.parse(readFileSync(opt.users, 'utf8'));
  return Object.hasOwn(users, username) ? users[username] : undefined;
}

async function findAccount(ctx, sub) {
  if (!sub.startsWith('sub-')) return undefined;
  const username = sub.slice('sub-'.length);
  const user = lookupUser(username);
  if (!user) return undefined;
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        preferred_username: username,
        name: user.name,
        email: user.email,
        email_verified: true,
        groups: user.groups ?? [],
      };
    },
  };
}

const page = (title, body) => `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><main><h1>${esc(title)}</h1>${body}</main></body></html>`;

const cookieLong = { httpOnly: true, sameSite: 'lax' }; // no `secure`: plain http

function makeProvider(issuer) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const client = {
    client_id: opt['client-id'],
    client_secret: opt['client-secret'],
    redirect_uris: [opt['redirect-uri']],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...(opt['post-logout-uri'] ? { post_logout_redirect_uris: [opt['post-logout-uri']] } : {}),
  };

  const provider = new Provider(issuer, {
    clients: [client],
    findAccount,
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'rs256-1' }] },
    cookies: { keys: [randomBytes(32).toString('hex')], long: cookieLong, short: { ...cookieLong } },
    pkce: { required: () => true }, // oidc-provider 9 only supports S256
    responseTypes: ['code'],
    // Claims per scope; `groups` comes with `profile` and also has its own scope.
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'groups'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    conformIdTokenClaims: false, // put the scope claims in the ID token too
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        // Only shown if the server-side logout below were removed.
        async logoutSource(ctx, form) {
          ctx.body = page('Sign out', `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
    },
    // The default TTLs, spelled out (the defaults print a notice on use).
    ttl: {
      AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600,
      Interaction: 3600, Session: 14 * 24 * 3600, Grant: 14 * 24 * 3600,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Sign-in error', Object.entries(out)
        .map(([k, v]) => `<p><strong>${esc(k)}</strong>: ${esc(v)}</p>`).join(''));
    },
  });

  // Sign-out without a confirmation page, done on the server (so it works
  // without JavaScript). oidc-provider renders a page that POSTs to
  // /session/end/confirm in two cases:
  //  - the end_session endpoint (RP-initiated logout): its confirmation page,
  //    or an auto-submitting form when there is no session;
  //  - resuming a login as a different account than the session's (e.g.
  //    prompt=login, alice -> bob): a JavaScript auto-submit form.
  // Here we do what the confirm step would do — revoke the grants, end the
  // session, clear its cookie — and redirect where it would have redirected.
  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if (ctx.status !== 200 || !(route === 'end_session'
      || (route === 'resume' && ctx.oidc.session.state?.postLogoutRedirectUri))) return;
    const { session } = ctx.oidc;
    const { postLogoutRedirectUri, state } = session.state ?? {};
    for (const { grantId } of Object.values(session.authorizations ?? {})) {
      if (!grantId) continue;
      await provider.AccessToken.revokeByGrantId(grantId);
      await provider.AuthorizationCode.revokeByGrantId(grantId);
      await provider.Grant.adapter.destroy(grantId);
    }
    await session.destroy();
    ctx.cookies.set(provider.cookieName('session'), null, cookieLong);
    const target = new URL(postLogoutRedirectUri ?? ctx.oidc.urlFor('end_session_success'));
    if (route === 'end_session' && postLogoutRedirectUri && state != null) {
      target.searchParams.set('state', state);
    }
    ctx.status = 303;
    ctx.redirect(target.href);
  });

  return provider;
}

// --- Interactions: our own login page; consent is granted automatically. ---

function loginForm(uid, { login = '', error } = {}) {
  return page('Sign in', `
${error ? `<p role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}">
  <p><label>Username <input name="login" autocomplete="username" value="${esc(login)}" autofocus></label></p>
  <p><label>Password <input type="password" name="password" autocomplete="current-password"></label></p>
  <p><button type="submit">Sign in</button></p>
</form>`);
}

function sendHtml(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 65536) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

async function handleInteraction(provider, req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  const { prompt, params, session, grantId } = details;

  if (prompt.name === 'consent') {
    // First-party client: grant whatever is missing, no consent screen.
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const result = { consent: { grantId: await grant.save() } };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
  }

  if (prompt.name !== 'login') throw new Error(`unsupported prompt ${prompt.name}`);
  if (req.method === 'GET') return sendHtml(res, 200, loginForm(uid));
  if (req.method !== 'POST') return sendHtml(res, 405, page('Method not allowed', ''));

  const form = await readForm(req);
  const login = form.get('login') ?? '';
  const user = lookupUser(login);
  if (!user || typeof user.password !== 'string' || user.password !== form.get('password')) {
    return sendHtml(res, 200, loginForm(uid, { login, error: 'Wrong username or password' }));
  }
  return provider.interactionFinished(req, res, { login: { accountId: `sub-${login}` } }, {
    mergeWithLastSubmission: false,
  });
}

// --- Server: /interaction/:uid is ours, everything else is oidc-provider. ---

let provider;
let callback;
const server = http.createServer((req, res) => {
  const { pathname } = new URL(req.url, 'http://127.0.0.1');
  const m = /^\/interaction\/([^/]+)$/.exec(pathname);
  if (!m) return callback(req, res);
  handleInteraction(provider, req, res, m[1]).catch((err) => {
    console.error('interaction error:', err);
    if (!res.headersSent) sendHtml(res, 400, page('Sign-in error', `<p>${esc(err.message)}</p>`));
    else res.end();
  });
});

server.listen(Number(opt.port), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = makeProvider(issuer);
  callback = provider.callback();
  process.stdout.write(`ready ${issuer}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
