// Browser flows of the approvals console in real Chromium (Debian's /usr/bin/chromium, never a
// downloaded browser), driven by crates/cli/tests/web_ui.rs, which starts `holdpoint serve`,
// makes the holds with real `holdpoint hook claude` calls and checks their outcome afterwards.
//
// Environment: HP_URL (the console), HP_ALICE and HP_BOB (token files), HP_SHOTS (screenshot
// directory), HP_PROFILE (a fresh profile directory), HP_HOLDS (JSON: {approve, two, cool,
// deny: {id, command}, http: {id, placeholder}, mcp: {id}}), HP_CHECKPOINT (the checkpoint id to restore), HP_TRASH (the SQL trash entry to restore, `BLOCK/ID`).
// Prints one "ok <step>" line per step; any failure exits 1 with the reason.

import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const url = process.env.HP_URL;
const alice = readFileSync(process.env.HP_ALICE, 'utf8').trim();
const bob = readFileSync(process.env.HP_BOB, 'utf8').trim();
const shots = process.env.HP_SHOTS;
const holds = JSON.parse(process.env.HP_HOLDS);
const checkpoint = process.env.HP_CHECKPOINT;
const trash = process.env.HP_TRASH;
const TIMEOUT = 15000;

function check(cond, message) {
  if (!cond) throw new Error(message);
}

const step = (name) => console.log(`ok ${name}`);

const context = await chromium.launchPersistentContext(process.env.HP_PROFILE, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 390, height: 844 }, // a phone
  acceptDownloads: true,
});
context.setDefaultTimeout(TIMEOUT);
const page = context.pages()[0] || await context.newPage();
const problems = [];
// Refused requests (the 401s and 403s this script provokes) are logged by Chromium as failed
// loads; anything else logged as an error (a CSP violation, a script error) is a problem.
page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text()); });
page.on('pageerror', (e) => problems.push(e.message));

const card = (id) => page.locator(`article[data-hold="${id}"]`);
const toast = page.locator('#toast');

async function signIn(token, who) {
  // By keyboard: the token field has focus on the sign-in view; Enter submits.
  await page.locator('#token').waitFor();
  await page.keyboard.type(token);
  await page.keyboard.press('Enter');
  await page.locator('#approver', { hasText: who }).waitFor();
}

async function signOut() {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#view-signin').waitFor();
}

try {
  await page.goto(url);

  // A wrong token is refused, with the reason on the page.
  await page.getByLabel('Approver token').fill(`hpa_${'ab'.repeat(32)}`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#signin-error', { hasText: 'not the token of a registered approver' }).waitFor();
  check(await page.locator('#nav').isHidden(), 'the console stays closed after a wrong token');
  check(!page.url().includes('hpa_'), 'the token never appears in the URL');
  step('wrong token refused');

  await page.getByLabel('Approver token').focus();
  await signIn(alice, 'alice');
  check(!page.url().includes('hpa_'), 'the token never appears in the URL');
  // A reload keeps the session (the CSRF token is in this origin's storage, the token nowhere).
  await page.reload();
  await page.locator('#approver', { hasText: 'alice' }).waitFor();
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
  check(!stored.includes(alice.slice(4)), 'the approver token is not kept in the browser');
  step('signed in');

  // The inbox shows the hook's hold, its command rendered for the shell.
  const a = holds.approve;
  await card(a.id).waitFor();
  const shown = await card(a.id).locator('pre.action').first().innerText();
  check(shown.includes(a.command), `the inbox shows the action text: ${shown}`);
  check(await card(a.id).locator('pre.action .cmd', { hasText: 'rm' }).count() > 0, 'the command word is highlighted');
  const text = await card(a.id).innerText();
  check(/outside the workspace/i.test(text), `the reason in plain words: ${text}`);
  check(text.includes('agent claude'), `the agent it came from: ${text}`);
  check(/Policy\s+hold-/.test(text), `the policy that held it: ${text}`);
  await page.screenshot({ path: join(shots, 'inbox.png'), fullPage: true });
  step('inbox shows the hold');

  // Other channels: an HTTP request with its GraphQL operation and the vault secret by name,
  // and an MCP tool call with its arguments.
  const web = holds.http;
  await card(web.id).waitFor();
  const request = await card(web.id).getByLabel(`HTTP request of hold ${web.id}`).innerText();
  check(request.startsWith('POST http://127.0.0.1:1/graphql?key=‹vault:graph-api›'), `the request line: ${request}`);
  check(!request.includes(web.placeholder), 'the placeholder is shown as its secret\'s name');
  const operation = await card(web.id).getByLabel(`GraphQL operation of hold ${web.id}`).innerText();
  check(operation.includes('mutation Wipe { volumeDelete(id: "vol-1") }'), `the GraphQL operation: ${operation}`);
  const tool = await card(holds.mcp.id).getByLabel(`MCP tool call of hold ${holds.mcp.id}`).innerText();
  check(tool.includes('github › delete_repository') && tool.includes('"repo": "billing"'), `the MCP call: ${tool}`);
  await card(web.id).scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(shots, 'channels.png'), fullPage: true });
  await card(web.id).screenshot({ path: join(shots, 'http-hold.png') });
  await card(holds.mcp.id).screenshot({ path: join(shots, 'mcp-hold.png') });
  step('channels');

  // Approve with a note: the waiting hook gets its answer.
  await card(a.id).getByLabel(`Note for approving hold ${a.id} (optional)`).fill('old data, archived');
  await card(a.id).getByRole('button', { name: `Approve hold ${a.id}` }).click();
  await toast.filter({ hasText: `Hold ${a.id} approved: now released` }).waitFor();
  await card(a.id).waitFor({ state: 'detached' });
  step('approved');

  // Deny with a reason.
  const d = holds.deny;
  await card(d.id).getByLabel(`Reason for denying hold ${d.id}`).fill('use the archive job');
  await card(d.id).getByRole('button', { name: `Deny hold ${d.id}` }).click();
  await toast.filter({ hasText: `Hold ${d.id} denied` }).waitFor();
  await card(d.id).waitFor({ state: 'detached' });
  step('denied');

  // Two people: alice's approval counts once; bob's releases it.
  const t = holds.two;
  await card(t.id).getByRole('button', { name: `Approve hold ${t.id}` }).click();
  await card(t.id).locator('.approvals', { hasText: '1 of 2 approvals (alice) — 1 more needed' }).waitFor();
  check(await card(t.id).getByRole('button', { name: `Approve hold ${t.id}` }).count() === 0,
    'the same approver cannot approve twice');
  await page.screenshot({ path: join(shots, 'two-person.png'), fullPage: true });
  await signOut();
  await signIn(bob, 'bob');
  await card(t.id).getByRole('button', { name: `Approve hold ${t.id}` }).click();
  await toast.filter({ hasText: `Hold ${t.id} approved: now released` }).waitFor();
  step('two-person');

  // Cool-off: approved, a countdown runs, Cancel calls it off.
  const c = holds.cool;
  await card(c.id).getByRole('button', { name: `Approve hold ${c.id}` }).click();
  const timer = card(c.id).getByRole('timer');
  await timer.waitFor();
  await page.waitForFunction((id) => /^\d+:\d\d$/.test(document.querySelector(`article[data-hold="${id}"] .countdown`)?.textContent || ''), c.id);
  const left = await timer.innerText();
  const [m, sec] = left.split(':').map(Number);
  check(m * 60 + sec <= 600 && m * 60 + sec > 0, `a ten-minute cool-off counts down: ${left}`);
  await page.screenshot({ path: join(shots, 'cool-off.png'), fullPage: true });
  await card(c.id).getByRole('button', { name: `Cancel hold ${c.id}` }).click();
  await toast.filter({ hasText: `Hold ${c.id} cancelled` }).waitFor();
  await card(c.id).waitFor({ state: 'detached' });
  step('cancelled during cool-off');

  // The hold page (the notification's link) shows a closed hold too.
  await page.goto(`${url}holds/${d.id}`);
  await card(d.id).locator('.state', { hasText: 'denied' }).waitFor();
  step('hold page');

  // Audit: search, verification, export link.
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Audit' }).click();
  await page.locator('#verify', { hasText: 'Chain verified' }).waitFor();
  await page.getByLabel('Search').fill('archive job');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.locator('#audit-count', { hasText: /^1 of \d+ records match/ }).waitFor();
  const entry = await page.locator('#timeline li').first().innerText();
  check(entry.includes('denied') && entry.includes(`hold ${d.id}`) && entry.includes('by alice'), `audit entry: ${entry}`);
  await page.screenshot({ path: join(shots, 'audit.png'), fullPage: true });
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export (JSON lines)' }).click()]);
  const exported = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  check(exported.length > 10 && exported[0].seq === 1, `the export has every record: ${exported.length}`);
  step('audit search');

  // Recover: restore the checkpoint (two presses: arm, confirm).
  await page.getByRole('link', { name: 'Recover' }).click();
  await page.getByRole('button', { name: `Restore checkpoint ${checkpoint}` }).click();
  await page.getByRole('button', { name: `Confirm restore of checkpoint ${checkpoint}` }).click();
  await page.locator('#recover-msg', { hasText: `restored checkpoint ${checkpoint}` }).waitFor();
  await page.screenshot({ path: join(shots, 'recover.png'), fullPage: true });
  step('restored a checkpoint');

  // Recover: a table the PostgreSQL proxy soft-deleted, back from the trash.
  await page.getByRole('button', { name: `Restore trash entry ${trash}` }).click();
  await page.getByRole('button', { name: `Confirm restore of trash entry ${trash}` }).click();
  await page.locator('#recover-msg', { hasText: 'from the trash' }).waitFor();
  await page.screenshot({ path: join(shots, 'recover-trash.png'), fullPage: true });
  step('restored from the trash');

  // A state change without the CSRF token, or with a wrong one, is refused.
  const refused = await page.evaluate(async (id) => {
    const plain = await fetch(`/api/holds/${id}/approve`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    const wrong = await fetch(`/api/holds/${id}/approve`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': 'f'.repeat(64) }, body: '{}' });
    const form = await fetch(`/api/holds/${id}/approve`, { method: 'POST', body: new URLSearchParams({ note: 'x' }) });
    return [plain.status, wrong.status, form.status];
  }, holds.approve.id);
  check(refused.every((s) => s === 403), `CSRF attempts refused: ${refused}`);
  step('csrf refused');

  check(problems.length === 0, `no script errors or CSP violations: ${problems.join(' | ')}`);
  step('no console errors');
} catch (e) {
  try { await page.screenshot({ path: join(shots, 'failure.png'), fullPage: true }); } catch (_) { /* best effort */ }
  console.error(`FAILED: ${e && e.stack ? e.stack : e}`);
  process.exitCode = 1;
} finally {
  await context.close();
}
