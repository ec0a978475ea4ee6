#!/usr/bin/env node
// hi -- a portico service in Node.js, with no SDK. It follows the checklist of
// docs/services.md (the wire protocol of docs/protocol.md) over two Redis
// connections (ioredis from npm):
//
//   (cd examples/node && npm ci)
//   node examples/node/service.js [--redis URL] [--prefix P] [--registration-secret-file F]
//   curl http://127.0.0.1:8000/hi/world                      ->  {"hi":"world"}
//   curl -X POST http://127.0.0.1:8000/hi/echo -d 'any bytes'  ->  the same bytes back
//
// Routes: GET /hi/{name}; POST /hi/echo (answers the request body with its
// content-type). Settings also from PORTICO_REDIS, PORTICO_PREFIX and
// PORTICO_REGISTRATION_SECRET_FILE (defaults: redis://127.0.0.1:6379, portico,
// unsigned). Prints "hi: ready instance=<id>" on stderr once registered;
// deregisters on SIGTERM / SIGINT, answers what it already received, exits 0.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const Redis = require('ioredis');

const SERVICE = 'hi';
const TTL_MS = 10000;
const SKEW_MS = 1000; // how far the gateway's clock may be behind ours
const ROUTES = [
  { method: 'GET', path: '/hi/{name}', handler: (req, p) => json(200, { hi: p.name }) },
  { method: 'POST', path: '/hi/echo', handler: echo },
];

const log = (m) => console.error(`${SERVICE}: ${m}`);
const opts = { '--redis': process.env.PORTICO_REDIS || 'redis://127.0.0.1:6379',
  '--prefix': process.env.PORTICO_PREFIX || 'portico',
  '--registration-secret-file': process.env.PORTICO_REGISTRATION_SECRET_FILE || '' };
for (let i = 2; i < process.argv.length; i += 2) {
  if (!(process.argv[i] in opts) || i + 1 >= process.argv.length) {
    log('usage: service.js [--redis URL] [--prefix P] [--registration-secret-file F]');
    process.exit(2);
  }
  opts[process.argv[i]] = process.argv[i + 1];
}
const prefix = opts['--prefix'];
let secret = null; // signed registration: the key is the file's bytes, outer white space removed
if (opts['--registration-secret-file']) {
  secret = Buffer.from(fs.readFileSync(opts['--registration-secret-file'], 'latin1')
    .replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, ''), 'latin1');
  if (secret.length === 0) { log('the registration secret file is empty'); process.exit(2); }
}

const instance = `${SERVICE}-${crypto.randomBytes(4).toString('hex')}`; // new at every start
const channel = `${prefix}:svc:${instance}`;
// Two connections: a subscribed one cannot PUBLISH. Commands fail at once
// while the connection is down rather than wait in a queue past their deadline.
const cmd = new Redis(opts['--redis'], { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
const sub = new Redis(opts['--redis'], { autoResubscribe: false });
let subscribed = false, announced = false, stopping = false, lastTs = 0, inflight = 0;
let lastError = '';
for (const c of [cmd, sub]) {
  c.on('error', (e) => { if (e.message !== lastError) log(`redis: ${(lastError = e.message)}`); });
}

// The register/deregister message as published: plain, or a signed envelope.
function announcement(msg) {
  lastTs = Math.max(lastTs, Date.now()); // ts_ms never goes backwards
  const text = JSON.stringify({ ...msg, ts_ms: lastTs });
  if (!secret) return text;
  const sig = crypto.createHmac('sha256', secret).update(text).digest('hex');
  return JSON.stringify({ v: 1, signed: text, sig });
}

async function register() {
  if (!subscribed || stopping || cmd.status !== 'ready') return;
  const msg = { v: 1, type: 'register', service: SERVICE, instance, channel, ttl_ms: TTL_MS,
    routes: ROUTES.map((r) => ({ method: r.method, path: r.path })) };
  try {
    await cmd.publish(`${prefix}:register`, announcement(msg));
    lastError = '';
    if (!announced) log(`ready instance=${instance}`);
    announced = true;
  } catch (e) {
    log(`register: ${e.message}`);
  }
}

// Subscribe first (and wait for Redis to confirm), then register: a request
// sent as soon as the gateway knows the route must find a subscriber.
sub.on('ready', () => {
  sub.subscribe(channel, `${prefix}:discover`)
    .then(() => { subscribed = true; return register(); }, (e) => log(`subscribe: ${e.message}`));
});
sub.on('close', () => { subscribed = false; });
cmd.on('ready', register);
sub.on('message', (ch, text) => (ch === channel ? onRequest(text) : register())); // or discover
const beat = setInterval(register, TTL_MS / 3);

function onRequest(text) {
  let req;
  try { req = JSON.parse(text); } catch { return; }
  if (!req || req.v !== 1 || typeof req.id !== 'string' || typeof req.reply_to !== 'string' ||
      !req.reply_to.startsWith(`${prefix}:reply:`)) return; // never publish elsewhere
  if (typeof req.deadline_ms === 'number' && req.deadline_ms + SKEW_MS < Date.now()) return;
  let res;
  try { res = dispatch(req); } catch (e) {
    log(`handler: ${e.stack}`);
    res = error(req, 500, 'internal', 'the service failed');
  }
  inflight++;
  cmd.publish(req.reply_to, JSON.stringify({ v: 1, id: req.id, status: res.status,
    headers: res.headers, ...encodeBody(res.body) }))
    .catch((e) => log(`reply: ${e.message}`))
    .finally(() => { inflight--; });
}

// Handler by route (the pattern, param names aside) and method: exact, GET for
// HEAD, then "*". Without a route (not from the gateway), by the path.
const shape = (p) => p.replace(/\{[^}]*\}/g, '{}');
const names = (p) => (p.match(/\{[^}]*\}/g) || []).map((s) => s.slice(1, -1));
function dispatch(req) {
  const found = ROUTES.map((r) => ({ r, p: paramsOf(r.path, req) })).filter((x) => x.p !== null);
  const pick = (m) => found.find((x) => x.r.method === m);
  const hit = pick(req.method) || (req.method === 'HEAD' && pick('GET')) || pick('*');
  if (hit) return hit.r.handler(req, hit.p);
  if (found.length) return error(req, 405, 'method_not_allowed', 'method not allowed here');
  return error(req, 404, 'not_found', 'no route for this method and path');
}
function paramsOf(pattern, req) {
  if (typeof req.route === 'string') { // params are named as in req.route: map by position
    if (shape(req.route) !== shape(pattern)) return null;
    const theirs = names(req.route), params = req.params || {};
    return Object.fromEntries(names(pattern).map((n, i) => [n, String(params[theirs[i]] ?? '')]));
  }
  const ps = pattern.split('/'), xs = String(req.path).split('/'), out = {};
  if (ps.length !== xs.length) return null;
  for (let i = 1; i < ps.length; i++) {
    let seg;
    try { seg = decodeURIComponent(xs[i]); } catch { return null; }
    if (ps[i].startsWith('{') && seg !== '') out[ps[i].slice(1, -1)] = seg;
    else if (ps[i] !== seg) return null;
  }
  return out;
}

function header(req, name) {
  const h = (req.headers || []).find((x) => x[0] === name);
  return h ? h[1] : undefined;
}
function json(status, obj) {
  return { status, headers: [['content-type', 'application/json']], body: Buffer.from(JSON.stringify(obj)) };
}
// Errors a service makes have the gateway's error body.
function error(req, status, code, message) {
  return json(status, { error: code, message, request_id: header(req, 'x-request-id') || '' });
}
function echo(req) {
  const body = req.body_encoding === 'base64' ? Buffer.from(req.body || '', 'base64')
    : Buffer.from(req.body || '', 'utf8');
  return { status: 200, headers: [['content-type', header(req, 'content-type') || 'application/octet-stream']], body };
}
// Body bytes as the reply's body: a JSON string if valid UTF-8, else base64.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
function encodeBody(buf) {
  if (!buf || buf.length === 0) return {};
  try { return { body: utf8.decode(buf) }; } catch { return { body: buf.toString('base64'), body_encoding: 'base64' }; }
}

// SIGTERM/SIGINT: deregister (gateways stop sending at once), unsubscribe,
// answer what was already received, disconnect, exit 0 (at most 5 s).
async function stop() {
  if (stopping) return;
  stopping = true;
  clearInterval(beat);
  setTimeout(() => { log('could not stop in time'); process.exit(1); }, 5000);
  if (announced && cmd.status === 'ready') {
    await cmd.publish(`${prefix}:register`, announcement({ v: 1, type: 'deregister', service: SERVICE, instance }))
      .catch((e) => log(`deregister: ${e.message}`));
  }
  await sub.unsubscribe().catch(() => {});
  while (inflight > 0) await new Promise((r) => setTimeout(r, 10));
  sub.disconnect();
  await cmd.quit().catch(() => {});
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
