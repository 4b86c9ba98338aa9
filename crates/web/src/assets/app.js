// Holdpoint approvals console. Plain script, no inline code (the CSP forbids it), no CDN.
'use strict';

const state = { csrf: null, approver: null, offset: 0, holds: [], events: null, view: null };

const $ = (id) => document.getElementById(id);

// Builds an element; children are nodes or text (never parsed as HTML).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// The CSRF token goes with every API request. It is kept in this origin's storage, which a
// server on another port of the same host cannot read (it would get the cookie).
const KEY = 'holdpoint.csrf';

function headers(extra) {
  const h = Object.assign({ 'Accept': 'application/json' }, extra || {});
  if (state.csrf) h['X-CSRF-Token'] = state.csrf;
  return h;
}

async function api(method, path, body) {
  const init = { method, headers: headers(), credentials: 'same-origin' };
  if (method !== 'GET') {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body || {});
  }
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (response.status === 401 && !(method === 'POST' && path === '/api/session')) signedOut();
  return { status: response.status, ok: response.ok, data };
}

function toast(text) {
  $('toast').textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { $('toast').textContent = ''; }, 6000);
}

const now = () => Math.floor(Date.now() / 1000) + state.offset;

function duration(secs) {
  secs = Math.max(0, Math.floor(secs));
  if (secs < 60) return `${secs} s`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ${secs % 60} s`;
  if (secs < 86400) return `${Math.floor(secs / 3600)} h ${Math.floor((secs % 3600) / 60)} min`;
  return `${Math.floor(secs / 86400)} d`;
}

function clock(secs) {
  secs = Math.max(0, Math.floor(secs));
  const m = Math.floor(secs / 60), s = secs % 60;
  return `${m}:${String(s).padStart(2, '0')}`;
}

// ---- views and navigation ----

const VIEWS = ['signin', 'inbox', 'hold', 'audit', 'recover'];

function show(view) {
  state.view = view;
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.view === view || (view === 'hold' && a.dataset.view === 'inbox')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function route() {
  if (!state.csrf) { show('signin'); $('token').focus(); return; }
  const path = location.pathname;
  const hold = path.match(/^\/holds\/(\d+)$/);
  if (hold) { show('hold'); loadHold(hold[1]); }
  else if (path === '/audit') { show('audit'); loadAudit(); }
  else if (path === '/recover') { show('recover'); loadRecover(); }
  else { show('inbox'); renderInbox(); }
}

function go(path) {
  if (location.pathname !== path) history.pushState(null, '', path);
  route();
  $('main').focus();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (!a || a.hasAttribute('download') || a.target || e.ctrlKey || e.metaKey || e.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  e.preventDefault();
  go(url.pathname);
});
window.addEventListener('popstate', route);

// ---- session ----

function signedIn(data) {
  state.csrf = data.csrf;
  localStorage.setItem(KEY, data.csrf);
  state.approver = data.approver;
  $('approver').textContent = data.approver;
  $('nav').hidden = false;
  $('who').hidden = false;
  startEvents();
  refreshHolds();
}

function signedOut() {
  state.csrf = null;
  state.approver = null;
  state.holds = [];
  localStorage.removeItem(KEY);
  if (state.events) { state.events.abort(); state.events = null; }
  $('nav').hidden = true;
  $('who').hidden = true;
  $('holds').replaceChildren();
  show('signin');
}

$('signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('token');
  const token = input.value.trim();
  input.value = '';
  $('signin-error').textContent = '';
  const r = await api('POST', '/api/session', { token });
  if (r.ok) {
    signedIn(r.data);
    route();
    $('main').focus();
  } else {
    $('signin-error').textContent = (r.data && r.data.error) || `sign-in failed (${r.status})`;
    input.focus();
  }
});

$('signout').addEventListener('click', async () => {
  await api('DELETE', '/api/session');
  signedOut();
  history.pushState(null, '', '/');
  $('token').focus();
});

// ---- holds ----

async function refreshHolds() {
  const r = await api('GET', '/api/holds');
  if (!r.ok) return;
  state.offset = r.data.now - Math.floor(Date.now() / 1000);
  setHolds(r.data.holds);
}

function setHolds(holds) {
  state.holds = holds;
  $('count').textContent = holds.length ? String(holds.length) : '';
  if (state.view === 'inbox') renderInbox();
}

// Server-sent events read with fetch (EventSource cannot send the CSRF header).
async function startEvents() {
  if (state.events) state.events.abort();
  const controller = new AbortController();
  state.events = controller;
  while (!controller.signal.aborted && state.csrf) {
    try {
      const r = await fetch('/api/events', { headers: headers({ 'Accept': 'text/event-stream' }), credentials: 'same-origin', signal: controller.signal });
      if (r.status === 401 || r.status === 403) { signedOut(); return; }
      if (!r.ok || !r.body) throw new Error(`live updates: ${r.status}`);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (event !== 'holds' || !data.length) continue;
          $('live').textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
          try { setHolds(JSON.parse(data.join('\n'))); } catch (_) { /* a bad event is ignored */ }
        }
      }
    } catch (_) {
      if (controller.signal.aborted) return;
    }
    $('live').textContent = 'Reconnecting to live updates…';
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function renderInbox() {
  const box = $('holds');
  const open = document.activeElement && box.contains(document.activeElement) ? document.activeElement.id : null;
  const drafts = {};
  for (const input of box.querySelectorAll('input')) if (input.value) drafts[input.id] = input.value;
  box.replaceChildren(...(state.holds.length
    ? state.holds.map((h) => holdCard(h, true))
    : [el('p', { class: 'hint', text: 'No holds are waiting. New ones appear here as agents hit them.' })]));
  for (const [id, value] of Object.entries(drafts)) { const input = $(id); if (input) input.value = value; }
  if (open && $(open)) $(open).focus();
  tick();
}

async function loadHold(id) {
  const box = $('hold-one');
  box.replaceChildren(el('p', { class: 'hint', text: 'Loading…' }));
  const r = await api('GET', `/api/holds/${id}`);
  if (!r.ok) { box.replaceChildren(el('p', { class: 'error', text: (r.data && r.data.error) || 'cannot load the hold' })); return; }
  state.offset = r.data.now - Math.floor(Date.now() / 1000);
  $('hold-h').textContent = `Hold ${r.data.hold.id}`;
  box.replaceChildren(holdCard(r.data.hold, false));
  tick();
}

function holdCard(h, inInbox) {
  const a = h.action || {};
  const actor = a.actor || {};
  const heading = `hold-${h.id}-h`;
  const card = el('article', { class: 'hold', 'aria-labelledby': heading, 'data-hold': h.id });
  card.append(el('h3', { id: heading },
    inInbox ? el('a', { href: `/holds/${h.id}` }, `Hold ${h.id}`) : `Hold ${h.id}`,
    el('span', { class: 'channel' }, channelName(h.channel)),
    el('span', { class: `state ${h.state}` }, h.state)));
  card.append(renderAction(h));
  const facts = el('dl', { class: 'facts' });
  const fact = (name, ...value) => facts.append(el('dt', {}, name), el('dd', {}, ...value));
  fact('Why held', h.reason || '(no reason given)');
  if (h.policies && h.policies.length) fact('Policy', h.policies.join(', '));
  const effects = (a.effects || []).map((e) => el('li', {},
    `${e.verb} ${e.target && e.target.id ? e.target.id : '(no target)'} — ${e.reversibility}, ${e.scope}`,
    e.rule ? ` (rule ${e.rule})` : '', e.why ? `: ${e.why}` : ''));
  if (effects.length) fact('What it would do', el('ul', { class: 'effects' }, effects));
  const tags = new Set();
  for (const e of a.effects || []) for (const t of (e.target && e.target.tags) || []) tags.add(t);
  // The action's target (SQL, HTTP, MCP), else what its effects act on (running the program aside).
  const acted = (a.effects || []).filter((e) => e.verb !== 'execute' && e.target && e.target.id).map((e) => e.target.id);
  fact('Target', a.target || [...new Set(acted)].join(', ') || '—',
    tags.size ? ' ' : '', ...[...tags].map((t) => el('span', { class: `tag ${t}` }, t)));
  fact('From', `agent ${actor.agent || 'unknown'} · session ${actor.session || '—'} · workspace ${actor.workspace || '—'}`);
  fact('Age', el('span', { class: 'age', 'data-since': h.created }, ''));
  if (h.state === 'pending' || h.state === 'approved') {
    fact('Expires', el('span', { class: 'ttl', 'data-until': h.expires }, ''), ` (TTL ${duration(h.ttl_secs)})`);
  }
  if (h.delay_secs) fact('Cool-off', `${duration(h.delay_secs)} after the last approval, cancellable until then`);
  if (h.soft_delete) fact('Soft delete', 'the delete is rewritten to move the data to the trash');
  card.append(facts);
  card.append(approvals(h));
  if (!h.sealed) card.append(el('p', { class: 'error', role: 'alert', text: 'This hold was edited in the database after it was created; it can never be released.' }));
  card.append(decide(h));
  return card;
}

function channelName(c) {
  return { shell: 'shell command', file: 'file operation', sql: 'SQL', http: 'HTTP request', mcp: 'MCP tool call' }[c] || c;
}

function approvals(h) {
  const names = (h.approvals || []).map((x) => x.approver);
  const need = h.approvers_needed || 1;
  const box = el('div', { class: 'progress' },
    el('progress', { max: need, value: Math.min(names.length, need), 'aria-label': `approvals of hold ${h.id}` }),
    el('span', { class: 'approvals' }, `${names.length} of ${need} approval${need === 1 ? '' : 's'}`,
      names.length ? ` (${names.join(', ')})` : '',
      names.length < need && (h.state === 'pending' || h.state === 'approved')
        ? ` — ${need - names.length} more needed` : ''));
  if (h.state === 'approved' && h.release_at) {
    box.append(el('span', {}, 'Releases in ', el('span', { class: 'countdown', 'data-until': h.release_at, role: 'timer' }, '')));
  }
  return box;
}

function decide(h) {
  const box = el('div', { class: 'decide' });
  const waiting = h.state === 'pending' || h.state === 'approved';
  const mine = (h.approvals || []).some((x) => x.approver === state.approver);
  if (waiting && !mine) {
    const note = `note-${h.id}`;
    box.append(el('form', { onsubmit: (e) => { e.preventDefault(); act(h.id, 'approve', { note: $(note).value || undefined }, e.submitter); } },
      el('label', { for: note }, `Note for approving hold ${h.id} (optional)`),
      el('input', { id: note, type: 'text', maxlength: 2000, autocomplete: 'off' }),
      el('button', { type: 'submit', class: 'approve', 'aria-label': `Approve hold ${h.id}` }, 'Approve')));
  } else if (waiting && mine) {
    box.append(el('p', { class: 'hint' }, 'You approved this hold; your approval counts once.'));
  }
  if (waiting) {
    const reason = `reason-${h.id}`;
    box.append(el('form', { onsubmit: (e) => { e.preventDefault(); act(h.id, 'deny', { reason: $(reason).value }, e.submitter); } },
      el('label', { for: reason }, `Reason for denying hold ${h.id}`),
      el('input', { id: reason, type: 'text', maxlength: 2000, required: true, autocomplete: 'off' }),
      el('button', { type: 'submit', class: 'deny', 'aria-label': `Deny hold ${h.id}` }, 'Deny')));
  }
  if (h.state === 'approved' && h.release_at) {
    box.append(el('div', {}, el('button', { type: 'button', class: 'cancel', 'aria-label': `Cancel hold ${h.id}`,
      onclick: (e) => act(h.id, 'cancel', {}, e.currentTarget) }, 'Cancel before release')));
  }
  return box;
}

async function act(id, what, body, button) {
  if (button) button.disabled = true;
  const r = await api('POST', `/api/holds/${id}/${what}`, body);
  if (button) button.disabled = false;
  if (!r.ok) { toast((r.data && r.data.error) || `${what} failed (${r.status})`); return; }
  const h = r.data.hold;
  const done = { approve: 'approved', deny: 'denied', cancel: 'cancelled' }[what];
  toast(r.data.already_approved ? `You had already approved hold ${id}.` : `Hold ${id} ${done}: now ${h.state}.`);
  if (state.view === 'hold') loadHold(id);
  refreshHolds();
}

function tick() {
  const t = now();
  for (const e of document.querySelectorAll('.age')) e.textContent = `${duration(t - Number(e.dataset.since))} ago`;
  for (const e of document.querySelectorAll('.ttl')) {
    const left = Number(e.dataset.until) - t;
    e.textContent = left > 0 ? `in ${duration(left)}` : 'now';
  }
  for (const e of document.querySelectorAll('.countdown')) e.textContent = clock(Number(e.dataset.until) - t);
}
setInterval(tick, 1000);

// ---- the action, per channel ----

function withSecrets(text, secrets) {
  // Placeholders are shown as the vault secret they stand for.
  const parts = [];
  const re = /hp_[a-z2-7]{26}/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    parts.push(text.slice(last, m.index));
    const name = secrets && secrets[m[0]];
    parts.push({ secret: name ? `vault:${name}` : 'vault:unknown placeholder', title: m[0] });
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

function spans(text, secrets, classify) {
  const out = [];
  for (const part of withSecrets(text, secrets)) {
    if (typeof part === 'string') out.push(...classify(part));
    else out.push(el('span', { class: 'secret', title: part.title }, `‹${part.secret}›`));
  }
  return out;
}

function renderAction(h) {
  const a = h.action || {};
  const input = a.input !== undefined ? String(a.input) : h.summary;
  const pre = (label, ...children) => el('pre', { class: 'action', 'aria-label': label }, ...children);
  const exact = el('details', {}, el('summary', {}, 'Exact input'), el('pre', { class: 'action' }, input));
  switch (h.channel) {
    case 'shell': return el('div', {}, pre(`command of hold ${h.id}`, ...spans(input, h.secrets, shellSpans)));
    case 'sql': return el('div', {}, pre(`SQL of hold ${h.id}`, ...sqlView(input, h.secrets)),
      a.target ? el('p', { class: 'hint' }, `on ${a.target}`) : null, exact);
    case 'http': return httpView(h, input, exact);
    case 'mcp': return mcpView(h, input, exact);
    case 'file': {
      try {
        const f = JSON.parse(input);
        return el('div', {}, pre(`file operation of hold ${h.id}`, el('span', { class: 'cmd' }, f.op || 'file'), ' ', ...spans(String(f.path || ''), h.secrets, (t) => [t])), exact);
      } catch (_) { return pre(`file operation of hold ${h.id}`, input); }
    }
    default: return pre(`action of hold ${h.id}`, ...spans(input, h.secrets, (t) => [t]));
  }
}

function shellSpans(text) {
  const out = [];
  // The last group takes any character the others do not (an unclosed quote), so the text
  // shown is always exactly the input.
  const re = /(\s+)|('(?:[^'])*'|"(?:\\.|[^"\\])*")|(\|\||&&|;;|[|;&]|\$\(|\)|\(|`)|(\d?>>?|<<<|<<|<|&>|\d?>&\d?)|([^\s|;&()<>`'"]+)|([\s\S])/g;
  let commandNext = true, m;
  while ((m = re.exec(text))) {
    const [tok, space, str, op, redir, word, other] = m;
    if (space) out.push(space);
    else if (str) { out.push(el('span', { class: 'str' }, str)); commandNext = false; }
    else if (op) { out.push(el('span', { class: 'op' }, op)); commandNext = op !== ')'; }
    else if (redir) out.push(el('span', { class: 'redir' }, redir));
    else if (word) {
      if (commandNext && /^[A-Za-z_][A-Za-z0-9_]*=/.test(word)) out.push(word);
      else if (commandNext) { out.push(el('span', { class: 'cmd' }, word)); commandNext = ['sudo', 'env', 'timeout', 'nice', 'nohup', 'xargs', 'exec', 'command'].includes(word); }
      else out.push(el('span', { class: word.startsWith('-') ? 'flag' : 'word' }, word));
    } else out.push(other || tok);
  }
  return out;
}

const SQL_BREAK = /\s+(?=(FROM|WHERE|SET|VALUES|RETURNING|GROUP BY|ORDER BY|HAVING|LIMIT|UNION|JOIN|LEFT JOIN|INNER JOIN|ON CONFLICT|CASCADE)\b)/gi;
const SQL_KW = /\b(SELECT|INSERT|INTO|UPDATE|DELETE|FROM|WHERE|SET|VALUES|DROP|TABLE|TRUNCATE|ALTER|CREATE|GRANT|REVOKE|CASCADE|RETURNING|AND|OR|NOT|NULL|JOIN|ON|AS|GROUP|ORDER|BY|LIMIT|UNION|DATABASE|SCHEMA|INDEX|VIEW|IF|EXISTS|BEGIN|COMMIT|ROLLBACK|COPY|TO|DO)\b/gi;

// Splits SQL into code and the parts that are not code (quoted text, dollar quotes, comments),
// so that layout and highlighting touch code only: a ';' or a keyword inside a string is shown
// as the string it is.
function sqlParts(text) {
  const parts = [];
  const re = /'(?:[^']|'')*'?|"(?:[^"]|"")*"?|(\$[A-Za-z_0-9]*\$)[\s\S]*?(?:\1|$)|--[^\n]*|\/\*[\s\S]*?(?:\*\/|$)/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    if (m[0] === '') { re.lastIndex++; continue; }
    if (m.index > last) parts.push({ code: true, text: text.slice(last, m.index) });
    parts.push({ code: false, text: m[0] });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push({ code: true, text: text.slice(last) });
  return parts;
}

function sqlView(text, secrets) {
  const out = [];
  const parts = sqlParts(text.trim());
  parts.forEach((part, i) => {
    if (!part.code) { out.push(el('span', { class: 'str' }, ...spans(part.text, secrets, (t) => [t]))); return; }
    let code = part.text.replace(SQL_BREAK, '\n  ').replace(/;\s*/g, (m, at, all) => (at + m.length >= all.length && i === parts.length - 1 ? ';' : ';\n'));
    out.push(...spans(code, secrets, sqlSpans));
  });
  return out;
}

function sqlSpans(text) {
  const out = [];
  let last = 0, m;
  SQL_KW.lastIndex = 0;
  while ((m = SQL_KW.exec(text))) {
    out.push(text.slice(last, m.index), el('span', { class: 'kw' }, m[0]));
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}

function httpView(h, input, exact) {
  let req;
  try { req = JSON.parse(input); } catch (_) { return el('pre', { class: 'action' }, input); }
  const lines = [el('span', { class: 'method' }, String(req.method || '?')), ' ', ...spans(String(req.url || ''), h.secrets, (t) => [t]), '\n'];
  for (const [name, value] of Object.entries(req.headers || {})) {
    lines.push(el('span', { class: 'hname' }, `${name}:`), ' ', ...spans(String(value), h.secrets, (t) => [t]), '\n');
  }
  const parts = [el('pre', { class: 'action', 'aria-label': `HTTP request of hold ${h.id}` }, ...lines)];
  if (req.body !== undefined) {
    let gql = null;
    try { const b = JSON.parse(req.body); if (b && typeof b.query === 'string') gql = b; } catch (_) { /* not JSON */ }
    if (gql) {
      parts.push(el('p', { class: 'hint' }, `GraphQL operation${gql.operationName ? ` ${gql.operationName}` : ''}`));
      parts.push(el('pre', { class: 'action', 'aria-label': `GraphQL operation of hold ${h.id}` }, ...spans(gql.query, h.secrets, (t) => [t])));
      if (gql.variables) parts.push(el('pre', { class: 'action' }, ...spans(JSON.stringify(gql.variables, null, 2), h.secrets, (t) => [t])));
    } else {
      parts.push(el('pre', { class: 'action', 'aria-label': `body of hold ${h.id}` }, ...spans(String(req.body), h.secrets, (t) => [t])));
    }
  } else if (req.body_sha256) parts.push(el('p', { class: 'hint' }, `binary body, SHA-256 ${req.body_sha256}`));
  else if (req.body_too_large) parts.push(el('p', { class: 'hint' }, 'body larger than the proxy reads'));
  parts.push(exact);
  return el('div', {}, ...parts);
}

function mcpView(h, input, exact) {
  let call;
  try { call = JSON.parse(input); } catch (_) { return el('pre', { class: 'action' }, input); }
  const args = call.arguments === undefined ? '' : JSON.stringify(call.arguments, null, 2);
  return el('div', {},
    el('pre', { class: 'action', 'aria-label': `MCP tool call of hold ${h.id}` },
      el('span', { class: 'cmd' }, `${call.server ? `${call.server} › ` : ''}${call.tool || '?'}`), '\n',
      ...spans(args, h.secrets, (t) => [t])),
    exact);
}

// ---- audit ----

$('audit-form').addEventListener('submit', (e) => { e.preventDefault(); loadAudit(); });

$('export').addEventListener('click', async () => {
  const r = await fetch('/api/audit/export', { headers: headers(), credentials: 'same-origin' });
  if (!r.ok) { toast(`export failed (${r.status})`); return; }
  const url = URL.createObjectURL(await r.blob());
  const a = el('a', { href: url, download: 'holdpoint-audit.jsonl' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
});

async function loadAudit() {
  const params = new URLSearchParams();
  const q = $('audit-q').value.trim();
  const kind = $('audit-kind').value;
  if (q) params.set('q', q);
  if (kind) params.set('kind', kind);
  const r = await api('GET', `/api/audit?${params}`);
  if (!r.ok) { $('verify').textContent = (r.data && r.data.error) || 'cannot read the audit log'; return; }
  const v = r.data.verify;
  $('verify').className = `verify ${v.ok ? 'ok' : 'bad'}`;
  $('verify').textContent = v.ok
    ? `Chain verified: ${v.records} records, ${v.checkpoints} signed checkpoint${v.checkpoints === 1 ? '' : 's'}, intact.`
    : `Chain broken: ${v.problem || `first bad record ${v.first_bad}`}. Records from there on cannot be trusted.`;
  $('audit-count').textContent = `${r.data.matched} of ${r.data.total} records match${r.data.records.length < r.data.matched ? ` (newest ${r.data.records.length} shown)` : ''}.`;
  $('timeline').replaceChildren(...r.data.records.map(auditItem));
}

function auditItem(rec) {
  const d = rec.detail || {};
  const what = [rec.kind];
  if (rec.hold_id) what.push(`hold ${rec.hold_id}`);
  if (rec.channel) what.push(rec.channel);
  if (rec.verdict) what.push(rec.verdict);
  const words = [];
  if (d.approver) words.push(`by ${d.approver}`);
  if (d.note) words.push(`“${d.note}”`);
  if (d.event) words.push(d.event);
  if (d.summary) words.push(d.summary);
  if (d.reason && typeof d.reason === 'string') words.push(d.reason);
  return el('li', { class: `kind-${rec.kind}` },
    el('div', {}, el('strong', {}, what.join(' · ')), words.length ? ` — ${words.join(' · ')}` : ''),
    el('div', { class: 'meta' }, `#${rec.seq} · ${new Date(rec.time * 1000).toLocaleString()}`),
    el('details', {}, el('summary', {}, 'Record'), el('code', {}, JSON.stringify(rec))));
}

// ---- recover ----

async function loadRecover() {
  const r = await api('GET', '/api/recover');
  if (!r.ok) { $('recover-msg').textContent = (r.data && r.data.error) || 'cannot list what can be restored'; return; }
  const items = r.data.items;
  $('items').replaceChildren(...(items.length ? items.map(recoverItem)
    : [el('li', {}, 'Nothing to restore yet: `holdpoint run` and released actions take workspace checkpoints.')]));
}

function recoverItem(item) {
  const label = `${item.kind === 'trash' ? 'trash entry' : 'checkpoint'} ${item.id}`;
  const button = el('button', { type: 'button', 'aria-label': `Restore ${label}` }, 'Restore');
  button.addEventListener('click', async () => {
    if (button.dataset.armed !== 'yes') {
      button.dataset.armed = 'yes';
      button.textContent = 'Confirm restore';
      button.setAttribute('aria-label', `Confirm restore of ${label}`);
      return;
    }
    button.disabled = true;
    const r = await api('POST', `/api/recover/${encodeURIComponent(item.kind)}/${encodeURIComponent(item.id)}/restore`, {});
    button.disabled = false;
    $('recover-msg').textContent = r.ok ? r.data.message : ((r.data && r.data.error) || `restore failed (${r.status})`);
    if (r.ok) loadRecover();
  });
  return el('li', { 'data-item': `${item.kind}-${item.id}` },
    el('div', {}, el('strong', {}, label), ` — ${item.title}`,
      el('div', { class: 'hint' }, `${new Date(item.created * 1000).toLocaleString()} · ${item.detail}`)),
    button);
}

// ---- start ----

(async () => {
  const stored = localStorage.getItem(KEY);
  if (stored) {
    state.csrf = stored;
    const r = await api('GET', '/api/session');
    if (r.ok) signedIn(r.data);
    else signedOut();
  }
  route();
})();
