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
    profile: config.profile ?? 'generic',
    clientSecret: config.client_secret ?? null,
    apiAudience: config.api_audience ?? null,
    overageLimit: config.overage_limit ?? 200,
    tenant: config.tenant ?? '9188040d-6c67-4c5b-b112-36a304b66dad',
    groupsScope: config.groups_scope ?? true,
    groupsNeedScope: config.groups_need_scope ?? false,
    refreshWithoutIdToken: config.refresh_without_id_token ?? false,
    noDeviceFlow: config.no_device_flow ?? false,
    clockSkew: config.clock_skew ?? 0,
  };
}

// The big hosted IdPs, emulated from their documentation on top of oidc-provider: where
// the issuer lives, which scopes exist, which claims the ID token carries, how the device
// answer is shaped. `generic` is oidc-provider as the other tests know it.
const AUTH0_GROUPS = 'https://breakglass.example/groups';
function profileOf(config) {
  const common = { issuerPath: '', scopes: null, claims: null, checkScopes: null };
  switch (config.profile) {
    case 'generic':
      return common;
    case 'google':
      // developers.google.com/identity/protocols/oauth2/limited-input-device: only
      // openid/email/profile (no offline_access: refresh tokens come anyway), a
      // client_secret even for "TVs and Limited Input devices" clients, `verification_url`,
      // no groups claim ever.
      return {
        ...common,
        scopes: ['openid', 'email', 'profile'],
        claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
        checkScopes: (bad) => `Invalid device flow scope: ${bad[0]}`,
        deviceAnswer: (body) => {
          body.verification_url = body.verification_uri;
          delete body.verification_uri;
          delete body.verification_uri_complete;
        },
      };
    case 'entra':
      // learn.microsoft.com: the v2.0 issuer is tenant-specific; `common` publishes the
      // template https://login.microsoftonline.com/{tenantid}/v2.0; the device answer has
      // `verification_uri` and a `message`, no complete URI; beyond 200 groups the ID token
      // carries an overage claim (_claim_names/_claim_sources) instead of `groups`.
      return {
        ...common,
        issuerPath: `/${config.tenant}/v2.0`,
        templatePaths: ['/common/v2.0', '/organizations/v2.0'],
        scopes: ['openid', 'email', 'profile', 'offline_access'],
        claims: { openid: ['sub', 'groups', 'preferred_username'], email: ['email'], profile: ['name'] },
        deviceAnswer: (body) => {
          delete body.verification_uri_complete;
          body.message = `To sign in, use a web browser to open the page ${body.verification_uri} and enter the code ${body.user_code} to authenticate.`;
        },
        overage: true,
      };
    case 'okta':
      // developer.okta.com: a custom authorization server's issuer is /oauth2/default;
      // `groups` is a scope its admins create (with a groups claim); any other scope is
      // refused without being named.
      return {
        ...common,
        issuerPath: '/oauth2/default',
        scopes: ['openid', 'email', 'profile', 'offline_access', ...(config.groupsScope ? ['groups'] : [])],
        claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'], ...(config.groupsScope ? { groups: ['groups'] } : {}) },
        checkScopes: () => 'One or more scopes are not configured for the authorization server resource.',
      };
    case 'auth0':
      // auth0.com/docs: /oauth/device/code takes `audience` (an API identifier; an unknown
      // one is "Service not found"); refresh tokens only for an API that allows offline
      // access; authorization_pending is answered with 403, slow_down with 429; custom
      // claims (groups, added by an Action) are namespaced.
      return {
        ...common,
        scopes: ['openid', 'email', 'profile', 'offline_access'],
        claims: { openid: ['sub', AUTH0_GROUPS], email: ['email', 'email_verified'], profile: ['name'] },
        auth0: true,
      };
    default:
      return fail(`unknown profile ${config.profile}`);
  }
}

// Start-up phases go to the log, so a slow start on a loaded machine can be told apart from a hang.
const phase = (what) => process.stderr.write(`idp: ${what} ${Math.round(process.uptime() * 1000)} ms after start\n`);

const config = readConfig();
const profile = profileOf(config);
const users = new Map(config.users.map((u) => [u.name, u]));

// An IdP whose clock is off: every time oidc-provider reads (iat, exp, expiry checks).
if (config.clockSkew) {
  const realNow = Date.now;
  Date.now = () => realNow() + config.clockSkew * 1000;
}

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
  refresh_tokens_issued: 0,
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
const origin = `https://127.0.0.1:${port}`;
const issuer = `${origin}${profile.issuerPath}`;
// Everything is served under the issuer's path, as when mounted there.
const under = (path) => `${profile.issuerPath}${path}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.clientId,
    client_name: 'kubectl breakglass',
    ...(config.clientSecret
      ? { token_endpoint_auth_method: 'client_secret_post', client_secret: config.clientSecret }
      : { token_endpoint_auth_method: 'none' }),
    grant_types: [DEVICE_CODE_GRANT, 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  }],
  extraParams: ['audience'],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  findAccount(ctx, id) {
    const user = users.get(id);
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        const groups = user.groups ?? [];
        const claims = {
          sub: id,
          email: user.email,
          email_verified: true,
          groups,
          name: user.name,
          preferred_username: profile.overage ? user.email : user.name,
          [AUTH0_GROUPS]: groups,
        };
        if (profile.overage && groups.length > config.overageLimit) {
          delete claims.groups;
          claims._claim_names = { groups: 'src1' };
          claims._claim_sources = { src1: { endpoint: `https://graph.microsoft.com/v1.0/users/${id}/getMemberObjects` } };
        }
        return claims;
      },
    };
  },
  // Kubernetes reads email and groups from the ID token (--oidc-username-claim,
  // --oidc-groups-claim), so they ride on `openid` like a default client scope
  // in Keycloak or Entra ID; the `email` and `groups` scopes are accepted too.
  claims: profile.claims ?? {
    openid: ['sub', 'email', 'email_verified', ...(config.groupsNeedScope ? [] : ['groups'])],
    email: ['email', 'email_verified'],
    groups: ['groups'],
    profile: ['name', 'preferred_username'],
  },
  scopes: profile.scopes ?? ['openid', 'offline_access', 'email', 'groups', 'profile'],
  conformIdTokenClaims: false,
  // A device-flow login is worth a refresh token whether or not the client
  // asked for offline_access; it does not die with the browser session.
  // Auth0 issues one only for an API (`audience`) that allows offline access.
  issueRefreshToken: async (ctx, client, source) => {
    if (!client.grantTypeAllowed('refresh_token')) return false;
    if (profile.auth0 && source?.kind === 'DeviceCode') {
      return Boolean(config.apiAudience) && source.params?.audience === config.apiAudience;
    }
    return true;
  },
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
    url: (ctx, interaction) => under(`/interaction/${interaction.uid}`),
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
      ctx.body = html('Sign in', `<form method="post" action="${under(`/interaction/${uid}/login`)}">
<input type="text" name="login" placeholder="user name" autofocus>
<input type="password" name="password" placeholder="password">
<button type="submit">Sign in</button></form>
<form method="post" action="${under(`/interaction/${uid}/abort`)}"><button type="submit">Cancel</button></form>`);
    } else {
      ctx.body = html('Authorize', `<p>${escapeHtml(params.client_id)} asks for: ${escapeHtml(params.scope ?? '')}</p>
<form method="post" action="${under(`/interaction/${uid}/confirm`)}"><button type="submit" autofocus>Allow</button></form>
<form method="post" action="${under(`/interaction/${uid}/abort`)}"><button type="submit">Deny</button></form>`);
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
<form method="post" action="${under(`/interaction/${uid}/login`)}">
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
      if (ctx.body?.refresh_token) stats.refresh_tokens_issued += 1;
    }
    // Some IdPs answer a refresh with an access token only.
    if (grantType === 'refresh_token' && ctx.status === 200 && config.refreshWithoutIdToken) {
      delete ctx.body.id_token;
    }
    if (profile.auth0 && ctx.body?.error === 'authorization_pending') ctx.status = 403;
    if (profile.auth0 && ctx.body?.error === 'slow_down') ctx.status = 429;
  }
  if (ctx.method === 'POST' && ctx.path === '/device/auth' && ctx.status === 200 && ctx.body) {
    const refusal = await refuseDeviceAuthorization(ctx);
    if (refusal) {
      [ctx.status, ctx.body] = refusal;
      return;
    }
    // oidc-provider leaves out the optional `interval`, so clients fall back to
    // RFC 8628's 5 s; the test bed advertises its own to keep tests quick.
    ctx.body.interval = config.pollInterval;
    profile.deviceAnswer?.(ctx.body);
  }
  if (ctx.method === 'GET' && ctx.path === '/.well-known/openid-configuration' && ctx.status === 200) {
    if (config.noDeviceFlow) delete ctx.body.device_authorization_endpoint;
  }
});

// What the emulated IdP refuses at its device endpoint that oidc-provider lets through:
// a scope it does not know (oidc-provider ignores those), an unknown Auth0 audience.
// The code oidc-provider made for the request is withdrawn.
async function refuseDeviceAuthorization(ctx) {
  let refusal = null;
  // As sent: oidc-provider has dropped the scopes it does not know from its params.
  const asked = String(ctx.oidc?.body?.scope ?? '').split(' ').filter(Boolean);
  const known = new Set(profile.scopes ?? []);
  const bad = asked.filter((s) => !known.has(s));
  if (profile.checkScopes && bad.length) {
    refusal = [400, { error: 'invalid_scope', error_description: profile.checkScopes(bad) }];
  }
  const audience = ctx.oidc?.body?.audience;
  if (profile.auth0 && audience && audience !== config.apiAudience) {
    refusal = [403, { error: 'access_denied', error_description: `Service not found: ${audience}` }];
  }
  if (refusal) {
    const userCode = ctx.body.user_code;
    issuedUserCodes.splice(issuedUserCodes.indexOf(userCode), 1);
    const code = await provider.DeviceCode.findByUserCode(normalizeUserCode(userCode));
    await code?.destroy();
  }
  return refusal;
}

const callback = provider.callback();
server.on('request', (req, res) => {
  const path = req.url.split('?')[0];
  // A multi-tenant endpoint's discovery names a template, not an issuer (Entra ID).
  for (const template of profile.templatePaths ?? []) {
    if (path === `${template}/.well-known/openid-configuration`) {
      const body = {
        issuer: `${origin}/{tenantid}/v2.0`,
        device_authorization_endpoint: `${issuer}/device/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        scopes_supported: profile.scopes,
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      return;
    }
  }
  if (profile.issuerPath) {
    if (path !== profile.issuerPath && !path.startsWith(`${profile.issuerPath}/`)) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'not_found', error_description: `nothing at ${path}` }));
      return;
    }
    // oidc-provider takes the part of originalUrl before url as where it is mounted.
    req.originalUrl = req.url;
    req.url = req.url.slice(profile.issuerPath.length) || '/';
  }
  callback(req, res);
});
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
  profile: config.profile,
})}\n`);
