// The test bed's identity provider: the real `oidc-provider` (an OpenID
// Certified implementation) with device flow and refresh tokens, served over
// HTTPS on loopback. Started by the Rust side (`breakglass_testbed::idp`),
// which writes the JSON config and waits for the one JSON line on stdout.
//
//   node idp.mjs --config FILE [--exit-with-stdin]
//
// Everything human goes to stderr; stdout carries exactly one JSON line.

import { readFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes, createHash } from 'node:crypto';
import https from 'node:https';
import Provider from 'oidc-provider';

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

function fail(message) {
  process.stderr.write(`idp: ${message}\n`);
  process.exit(2);
}

function readConfig() {
  const i = process.argv.indexOf('--config');
  if (i < 0 || !process.argv[i + 1]) {
    fail('usage: node idp.mjs --config FILE');
  }
  const config = JSON.parse(readFileSync(process.argv[i + 1], 'utf8'));
  const pem = (inline, path, what) => {
    if (inline) return inline;
    if (path) return readFileSync(path, 'utf8');
    return fail(`config lacks ${what}_pem (or ${what}_pem_path)`);
  };
  return {
    port: config.port ?? 0,
    cert: pem(config.tls_cert_pem, config.tls_cert_pem_path, 'tls_cert'),
    key: pem(config.tls_key_pem, config.tls_key_pem_path, 'tls_key'),
    clientId: config.client_id ?? 'kubectl-breakglass',
    users: config.users ?? [],
    ttl: {
      id_token: 300, access_token: 300, refresh_token: 86400, device_code: 600, ...config.ttl,
    },
    pollInterval: config.poll_interval ?? 5,
  };
}

// Start-up phases go to the log, so a slow start on a loaded machine can be told apart from a hang.
const phase = (what) => process.stderr.write(`idp: ${what} ${Math.round(process.uptime() * 1000)} ms after start\n`);

const config = readConfig();
const users = new Map(config.users.map((u) => [u.name, u]));

// RS256 signing key made at start, so every run has its own JWKS.
function signingJwk() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = createHash('sha256').update(jwk.n).digest('base64url').slice(0, 16);
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

// What the tests look at: how often each endpoint was used.
const stats = {
  device_authorizations: 0,
  token_requests: {},
  tokens_issued: {},
};
// User codes in the order they were handed out (denormalised, as shown to people).
const issuedUserCodes = [];
// accountId -> grant ids made at consent, so a user's grants can be revoked.
const grantsByAccount = new Map();

const normalizeUserCode = (code) => code.toUpperCase().replace(/\W/g, '');

function html(title, body) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>${body}</body></html>`;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readForm(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

async function readJson(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

const server = https.createServer({ cert: config.cert, key: config.key });
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.port, '127.0.0.1', resolve);
});
const { port } = server.address();
phase(`listening on 127.0.0.1:${port}`);
const signingKey = signingJwk();
phase('RS256 signing key generated');
const issuer = `https://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.clientId,
    client_name: 'kubectl breakglass',
    token_endpoint_auth_method: 'none',
    grant_types: [DEVICE_CODE_GRANT, 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  findAccount(ctx, id) {
    const user = users.get(id);
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: user.email,
          email_verified: true,
          groups: user.groups ?? [],
          name: user.name,
          preferred_username: user.name,
        };
      },
    };
  },
  // Kubernetes reads email and groups from the ID token (--oidc-username-claim,
  // --oidc-groups-claim), so they ride on `openid` like a default client scope
  // in Keycloak or Entra ID; the `email` and `groups` scopes are accepted too.
  claims: {
    openid: ['sub', 'email', 'email_verified', 'groups'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
    profile: ['name', 'preferred_username'],
  },
  scopes: ['openid', 'offline_access', 'email', 'groups', 'profile'],
  conformIdTokenClaims: false,
  // A device-flow login is worth a refresh token whether or not the client
  // asked for offline_access; it does not die with the browser session.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  ttl: {
    IdToken: config.ttl.id_token,
    AccessToken: config.ttl.access_token,
    RefreshToken: config.ttl.refresh_token,
    DeviceCode: config.ttl.device_code,
    Grant: Math.max(config.ttl.refresh_token, config.ttl.access_token) + 60,
    Interaction: 600,
    Session: 3600,
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  features: {
    devInteractions: { enabled: false },
    deviceFlow: {
      enabled: true,
      async userCodeInputSource(ctx, form, out, err) {
        const msg = err ? `<p class="error">${escapeHtml(err.error_description ?? err.message ?? err.name)}</p>` : '';
        ctx.body = html('Enter the code shown on your device', `${msg}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
      },
      async userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
        ctx.body = html('Confirm device', `<p>${escapeHtml(client.clientName ?? client.clientId)} shows the code <code>${escapeHtml(userCode)}</code></p>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`);
      },
      async successSource(ctx) {
        ctx.body = html('Signed in', '<p>You can close this page and return to your terminal.</p>');
      },
    },
    revocation: { enabled: true },
    userinfo: { enabled: true },
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = html('Error', `<pre id="error">${escapeHtml(JSON.stringify(out))}</pre>`);
  },
});

provider.on('device_authorization.success', (ctx, body) => {
  stats.device_authorizations += 1;
  issuedUserCodes.push(body.user_code);
});
provider.on('server_error', (ctx, err) => {
  process.stderr.write(`idp: server error: ${err.stack ?? err}\n`);
});

async function pendingUserCodes() {
  const pending = [];
  for (const userCode of issuedUserCodes) {
    const code = await provider.DeviceCode.findByUserCode(normalizeUserCode(userCode), { ignoreExpiration: true });
    if (code && !code.isExpired && !code.accountId && !code.error && !code.inFlight) {
      pending.push(userCode);
    }
  }
  return pending;
}

async function revokeGrants(user) {
  const grantIds = [...(grantsByAccount.get(user) ?? [])];
  for (const grantId of grantIds) {
    await Promise.all([
      provider.RefreshToken.revokeByGrantId(grantId),
      provider.AccessToken.revokeByGrantId(grantId),
      provider.Grant.adapter.destroy(grantId),
    ]);
  }
  grantsByAccount.delete(user);
  return grantIds.length;
}

// Test-only endpoints; a real deployment has none of these.
async function testbed(ctx) {
  if (ctx.method === 'GET' && ctx.path === '/testbed/stats') {
    ctx.body = stats;
  } else if (ctx.method === 'GET' && ctx.path === '/testbed/pending') {
    ctx.body = { user_codes: await pendingUserCodes() };
  } else if (ctx.method === 'POST' && ctx.path === '/testbed/revoke-grants') {
    const { user } = await readJson(ctx);
    if (!user) {
      ctx.status = 400;
      ctx.body = { error: 'body must be {"user": NAME}' };
      return;
    }
    ctx.body = { revoked_grants: await revokeGrants(user) };
  } else {
    ctx.status = 404;
    ctx.body = { error: `no test bed endpoint ${ctx.method} ${ctx.path}` };
  }
}

// The login and consent pages a real deployment puts in front of its users:
// plain HTML forms.
async function interaction(ctx) {
  const [, , uid, action] = ctx.path.split('/');
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) {
    ctx.status = 400;
    ctx.body = html('Error', '<p>interaction does not match its cookie</p>');
    return;
  }
  const { prompt, params } = details;
  const finish = async (result) => {
    ctx.status = 303;
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }));
  };

  if (ctx.method === 'GET' && !action) {
    if (prompt.name === 'login') {
      ctx.body = html('Sign in', `<form method="post" action="/interaction/${uid}/login">
<input type="text" name="login" placeholder="user name" autofocus>
<input type="password" name="password" placeholder="password">
<button type="submit">Sign in</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>`);
    } else {
      ctx.body = html('Authorize', `<p>${escapeHtml(params.client_id)} asks for: ${escapeHtml(params.scope ?? '')}</p>
<form method="post" action="/interaction/${uid}/confirm"><button type="submit" autofocus>Allow</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Deny</button></form>`);
    }
    return;
  }

  if (ctx.method !== 'POST') {
    ctx.status = 405;
    return;
  }
  const form = await readForm(ctx);
  if (action === 'login' && prompt.name === 'login') {
    const user = users.get(form.login);
    if (!user || (user.password && user.password !== form.password)) {
      ctx.status = 401;
      ctx.body = html('Sign in', `<p class="error">Unknown user or wrong password</p>
<form method="post" action="/interaction/${uid}/login">
<input type="text" name="login" placeholder="user name" autofocus>
<input type="password" name="password" placeholder="password">
<button type="submit">Sign in</button></form>`);
      return;
    }
    await finish({ login: { accountId: user.name } });
  } else if (action === 'confirm' && prompt.name === 'consent') {
    const { session: { accountId } } = details;
    let grant;
    if (details.grantId) {
      grant = await provider.Grant.find(details.grantId);
    } else {
      grant = new provider.Grant({ accountId, clientId: params.client_id });
    }
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    if (!grantsByAccount.has(accountId)) grantsByAccount.set(accountId, new Set());
    grantsByAccount.get(accountId).add(grantId);
    await finish({ consent: { grantId } });
  } else if (action === 'abort') {
    await finish({ error: 'access_denied', error_description: 'End-User aborted interaction' });
  } else {
    ctx.status = 400;
    ctx.body = html('Error', `<p>cannot ${escapeHtml(action)} at the ${escapeHtml(prompt.name)} prompt</p>`);
  }
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/testbed/')) {
    await testbed(ctx);
    return;
  }
  if (ctx.path.startsWith('/interaction/')) {
    await interaction(ctx);
    return;
  }
  await next();
  if (ctx.method === 'POST' && ctx.path === '/token') {
    const grantType = ctx.oidc?.params?.grant_type ?? 'unknown';
    stats.token_requests[grantType] = (stats.token_requests[grantType] ?? 0) + 1;
    if (ctx.status === 200) {
      stats.tokens_issued[grantType] = (stats.tokens_issued[grantType] ?? 0) + 1;
    }
  }
  // oidc-provider leaves out the optional `interval`, so clients fall back to
  // RFC 8628's 5 s; the test bed advertises its own to keep tests quick.
  if (ctx.method === 'POST' && ctx.path === '/device/auth' && ctx.status === 200 && ctx.body) {
    ctx.body.interval = config.pollInterval;
  }
});

server.on('request', provider.callback());
phase('provider configured');

const shutdown = () => process.exit(0);
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// The Rust side holds our stdin open; when it dies, even by SIGKILL, the pipe
// closes and we go too instead of lingering on a port.
if (process.argv.includes('--exit-with-stdin')) {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

process.stdout.write(`${JSON.stringify({
  issuer,
  port,
  client_id: config.clientId,
  pid: process.pid,
  device_authorization_endpoint: `${issuer}/device/auth`,
  token_endpoint: `${issuer}/token`,
  jwks_uri: `${issuer}/jwks`,
})}\n`);
