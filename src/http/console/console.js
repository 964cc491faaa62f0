// tickd's console: plain JavaScript on the /v1 API, no framework.
// Safe by construction: every string from the database reaches the page through textContent,
// createTextNode or a DOM property (never parsed as HTML), and the CSP forbids inline script and
// style, so a hostile region name is shown as the characters it is.
'use strict';

const REFRESH_MS = 4000;
const TOKEN_KEY = 'tickd-api-token'; // sessionStorage: this tab only, gone when it closes
const RUNS_PAGE = 20;
const CHART_RUNS = 60;
const ROW_OVERSCAN = 10; // rows drawn above and below the visible ones
const SEARCH_DEBOUNCE_MS = 150;

const $ = (id) => document.getElementById(id);

// ---- small helpers --------------------------------------------------------------------

// An element with optional class and text (as text, always).
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function td(text, className) {
  return el('td', className, text);
}

function pad(n) {
  return String(n).padStart(2, '0');
}

// "2026-12-06T03:58:05.25Z" -> "2026-12-06 03:58:05Z" (UTC, as the API gives it).
function utc(iso) {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}

// A length of time in the largest unit that keeps it readable.
function span(ms) {
  const s = Math.abs(ms) / 1000;
  if (s < 60) return Math.floor(s) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min';
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
}

function ago(iso) {
  return iso ? span(Date.now() - Date.parse(iso)) + ' ago' : '';
}

function until(iso) {
  if (!iso) return '';
  const ms = Date.parse(iso) - Date.now();
  return ms <= 0 ? 'due now' : 'in ' + span(ms);
}

function seconds(s) {
  if (s === null || s === undefined) return '';
  if (Math.abs(s) < 1) return Math.round(s * 1000) + ' ms';
  if (Math.abs(s) < 60) return s.toFixed(2) + ' s';
  return span(s * 1000);
}

// ---- cron in words ----------------------------------------------------------------------

const NUMBER = /^\d+$/;
const STEP = /^\*\/(\d+)$/;
const MACROS = {
  '@yearly': 'at 00:00 on January 1st',
  '@annually': 'at 00:00 on January 1st',
  '@monthly': 'at 00:00 on the 1st of every month',
  '@weekly': 'at 00:00 every Sunday',
  '@daily': 'at 00:00 every day',
  '@midnight': 'at 00:00 every day',
  '@hourly': 'every hour',
};

function plural(n, unit) {
  return n === 1 ? 'every ' + unit : 'every ' + n + ' ' + unit + 's';
}

// The expression in words for the simple shapes; null for anything else (shown as written).
// (Which of them have a fixed period, for telling an overdue region, is the replica's
// business: fixed_period in src/control/list_order.cpp follows these shapes.)
function describeCron(expression) {
  const text = expression.trim();
  if (Object.hasOwn(MACROS, text)) return { words: MACROS[text] };
  let fields = text.split(/\s+/);
  let sec = '0';
  if (fields.length === 6) {
    sec = fields[0];
    fields = fields.slice(1);
  } else if (fields.length !== 5) {
    return null;
  }
  const [min, hour, dom, mon, dow] = fields;
  if (dom !== '*' || mon !== '*') return null;
  const time = (h, m, s) => pad(h) + ':' + pad(m) + (Number(s) ? ':' + pad(s) : '');
  if (dow !== '*') {
    if (NUMBER.test(sec) && NUMBER.test(min) && NUMBER.test(hour) && /^[0-7A-Za-z,-]+$/.test(dow)) {
      return { words: 'at ' + time(hour, min, sec) + ' on days ' + dow };
    }
    return null;
  }
  if (min === '*' && hour === '*') {
    if (sec === '*') return { words: 'every second' };
    const step = STEP.exec(sec);
    if (step) return { words: plural(Number(step[1]), 'second') };
    if (NUMBER.test(sec)) {
      return { words: Number(sec) ? 'every minute at :' + pad(sec) + ' s' : 'every minute' };
    }
    return null;
  }
  if (!NUMBER.test(sec)) return null;
  const at = Number(sec) ? ' at second ' + Number(sec) : '';
  const minuteStep = STEP.exec(min);
  if (minuteStep && hour === '*') {
    return { words: plural(Number(minuteStep[1]), 'minute') + at };
  }
  if (!NUMBER.test(min)) return null;
  if (hour === '*') return { words: 'every hour at :' + pad(min) };
  const hourStep = STEP.exec(hour);
  if (hourStep) {
    return { words: plural(Number(hourStep[1]), 'hour') + ' at :' + pad(min) };
  }
  if (NUMBER.test(hour)) return { words: 'at ' + time(hour, min, sec) + ' every day' };
  return null;
}

// ---- the API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(method, path, body) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'the replica did not answer (' + e.message + ')');
  }
  let doc = null;
  try {
    doc = await res.json();
  } catch (e) {
    doc = null;
  }
  if (!res.ok) throw new ApiError(res.status, (doc && doc.error) || 'HTTP ' + res.status);
  return doc;
}

const enc = encodeURIComponent;

// ---- the token -----------------------------------------------------------------------------

let afterToken = null; // what to do once the token is given

function askToken(then) {
  afterToken = then;
  $('token-dialog').hidden = false;
  $('token-input').value = '';
  $('token-input').focus();
}

function useToken() {
  const value = $('token-input').value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  $('token-dialog').hidden = true;
  $('token-input').value = '';
  showTokenState();
  const then = afterToken;
  afterToken = null;
  if (then) then();
}

function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  showTokenState();
}

function showTokenState() {
  $('token-forget').hidden = !token();
}

function withToken(action) {
  if (token()) action();
  else askToken(action);
}

// ---- page state ------------------------------------------------------------------------------

const state = {
  // The list is the replica's: sorted (the failing, overdue and invalid first), searched and
  // paged there (GET /v1/regions?view=list&limit&offset&q); the page keeps the pages it has.
  query: '', // the search the pages below are of
  generation: 0, // bumped by each new search: pages of an older one are dropped on arrival
  pages: new Map(), // page number -> its regions
  loading: new Set(), // page numbers being fetched
  matching: 0, // regions the search keeps
  openCode: null, // the region on screen, or null for the list
  listScroll: 0,
  runCursors: [null], // `cursor` of each runs page visited; the last is on screen
  nextCursor: null,
  listRendered: false,
};

function banner(message) {
  $('banner').hidden = !message;
  $('banner').textContent = message || '';
}

// ---- the region list ---------------------------------------------------------------------

const PAGE = 100; // regions per request: a few screens

// The last run that ended: while a region's next run is in flight, the API's last_run is that
// running one and last_ended the one before it, so a failing region stays failing.
function endedRun(region) {
  const last = region.last_run;
  if (last && last.status === 'running') return region.last_ended || null;
  return last;
}

// Regions share few expressions: each is put in words once.
const cronWords = new Map();
function cronOf(expression) {
  if (!cronWords.has(expression)) cronWords.set(expression, describeCron(expression));
  return cronWords.get(expression);
}

// A region as the list draws it; `trouble` (invalid, failing, overdue or null) is the
// replica's, the rule that ordered the list.
function prepareRegion(r) {
  r.cron = r.state === 'invalid' ? null : cronOf(r.cron_schedule);
  r.ended = endedRun(r);
  return r;
}

function pagePath(page, query) {
  return '/v1/regions?view=list&limit=' + PAGE + '&offset=' + page * PAGE + (query ? '&q=' + enc(query) : '');
}

// Takes one page's answer: its regions, and what it says about the whole list.
function takePage(page, doc) {
  state.pages.set(page, doc.regions.map(prepareRegion));
  state.matching = doc.matching;
  const t = doc.troubles;
  $('counts').textContent =
    (state.query ? doc.matching + ' of ' : '') + doc.total + ' regions, ' + (t.invalid + t.failing + t.overdue) +
    ' needing a look';
  $('list-spacer').style.height = doc.matching * rowHeight() + 'px';
}

// The rows in view, plus a few around them: [first, last).
function rowsInView() {
  const list = $('list');
  const h = rowHeight();
  const first = Math.max(0, Math.floor(list.scrollTop / h) - ROW_OVERSCAN);
  const last = Math.ceil((list.scrollTop + Math.max(list.clientHeight, h)) / h) + ROW_OVERSCAN;
  return [first, last];
}

function pagesInView() {
  if (!state.listRendered) return [0]; // the first load is at the top, before any layout
  const [first, last] = rowsInView();
  const pages = [];
  for (let p = Math.floor(first / PAGE); p <= Math.floor((last - 1) / PAGE); p++) pages.push(p);
  return pages;
}

// Fetches the pages in view that the page does not have, each once; draws when they come.
function fetchMissingPages() {
  const generation = state.generation;
  for (const page of pagesInView()) {
    // Nothing beyond the list's end (before the first page of a search: nothing at all).
    if (page * PAGE >= state.matching || state.pages.has(page) || state.loading.has(page)) continue;
    state.loading.add(page);
    api('GET', pagePath(page, state.query))
      .then((doc) => {
        if (generation === state.generation) {
          takePage(page, doc);
          drawVisibleRows();
        }
      })
      .catch((e) => banner('Could not load regions: ' + e.message))
      .finally(() => {
        if (generation === state.generation) state.loading.delete(page);
      });
  }
}

let cachedRowHeight = 0;
function rowHeight() {
  if (!cachedRowHeight) {
    cachedRowHeight = parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--row')) || 30;
  }
  return cachedRowHeight;
}

function whyText(r) {
  if (r.error) return r.error;
  if (r.paused) return 'paused' + (r.paused.by ? ' by ' + r.paused.by : '') + (r.paused.reason ? ': ' + r.paused.reason : '');
  if (r.trouble === 'failing' && r.ended.error) return r.ended.error;
  if (r.trouble === 'overdue') return 'no run for two of its periods';
  return '';
}

function regionRow(r) {
  const row = el('a', 'region-row');
  row.href = '#/region/' + enc(r.code);
  row.setAttribute('role', 'listitem');
  row.dataset.code = r.code;
  const label = r.trouble || r.state;
  const badge = el('span');
  badge.appendChild(el('span', 'badge s-' + label, label));
  row.appendChild(badge);
  row.appendChild(el('span', 'code mono', r.code));
  const name = el('span', 'name', r.name);
  name.title = r.name;
  row.appendChild(name);
  const schedule = el('span', 'schedule', r.cron ? r.cron.words : r.cron_schedule);
  schedule.title = r.cron_schedule;
  row.appendChild(schedule);
  row.appendChild(el('span', 'zone', r.timezone));
  const next = el('span', 'next');
  if (r.next_fire) {
    next.appendChild(el('span', 'next-utc mono', utc(r.next_fire)));
    next.title = until(r.next_fire);
  } else {
    next.appendChild(el('span', 'muted', r.state === 'active' ? 'never' : 'not scheduled'));
  }
  row.appendChild(next);
  const last = el('span', 'last');
  if (r.last_run) {
    last.appendChild(el('span', 's-' + r.last_run.status, r.last_run.status));
    last.appendChild(document.createTextNode(' ' + ago(r.last_run.finished_at || r.last_run.started_at)));
    last.title = r.last_run.trigger + ' run for ' + utc(r.last_run.scheduled_for);
  } else {
    last.appendChild(el('span', 'muted', 'no run yet'));
  }
  row.appendChild(last);
  const why = el('span', 'why-cell', whyText(r));
  why.title = why.textContent;
  row.appendChild(why);
  return row;
}

// Draws the rows in view (and a few around them): the page stays smooth whatever the count.
// A row whose page has not come yet is drawn empty, and its page fetched.
function drawVisibleRows() {
  const h = rowHeight();
  const [first, wanted] = rowsInView();
  const last = Math.min(state.matching, wanted);
  const rows = [];
  for (let i = first; i < last; i++) {
    const page = state.pages.get(Math.floor(i / PAGE));
    const r = page && page[i % PAGE];
    if (r) rows.push(regionRow(r));
    else if (!page) rows.push(el('div', 'region-row loading', ' '));
  }
  $('list-rows').style.transform = 'translateY(' + first * h + 'px)';
  $('list-rows').replaceChildren(...rows);
  fetchMissingPages();
}

// The refresh: the pages in view, fetched again; the others are dropped (a region may have
// moved between them) and fetched again when scrolled to. The scroll position stays.
async function loadList() {
  const generation = state.generation;
  const pages = pagesInView();
  const docs = await Promise.all(pages.map((page) => api('GET', pagePath(page, state.query))));
  if (generation !== state.generation) return; // a new search meanwhile: its own load draws it
  state.pages.clear();
  state.loading.clear();
  pages.forEach((page, i) => takePage(page, docs[i]));
  drawVisibleRows();
  if (!state.listRendered) {
    // For bench/console_load.py: from DOMContentLoaded to the first list on screen.
    state.listRendered = true;
    performance.mark('tickd-list-rendered');
  }
}

// A new search: from the top, its own pages.
function search() {
  const query = $('search').value.trim();
  if (query === state.query) return;
  state.query = query;
  state.generation++;
  state.matching = 0;
  state.pages.clear();
  state.loading.clear();
  $('list').scrollTop = 0;
  refreshSoon();
}

function renderReplicas(doc) {
  const rows = doc.replicas.map((r) => {
    const tr = el('tr');
    tr.append(td(r.replica_id, 'mono'), td(ago(r.heartbeat_at)), td(r.version || 'unknown'), td(r.running));
    return tr;
  });
  if (!rows.length) {
    const tr = el('tr');
    const cell = td('no live replica: nothing is running the schedule', 'why');
    cell.colSpan = 4;
    tr.appendChild(cell);
    rows.push(tr);
  }
  $('replica-rows').replaceChildren(...rows);
  const running = doc.replicas.reduce((n, r) => n + r.running, 0);
  $('summary').textContent = doc.replicas.length + ' live replica(s), ' + running + ' tick(s) in flight';
}

async function loadReplicas() {
  renderReplicas(await api('GET', '/v1/replicas'));
}

// ---- one region ---------------------------------------------------------------------------

function fact(dl, name, value) {
  dl.append(el('dt', null, name), el('dd', null, value === null || value === undefined ? '-' : value));
}

function renderRegion(r) {
  $('r-code').textContent = r.code;
  $('r-name').textContent = r.name;
  const label = r.state;
  $('r-state').className = 'badge s-' + label;
  $('r-state').textContent = label;
  $('r-why').textContent = r.error || (r.paused ? whyText(r) : '');
  $('act-pause').hidden = r.state === 'paused';
  $('pause-reason').hidden = r.state === 'paused';
  $('act-resume').hidden = r.state !== 'paused';

  const dl = el('dl');
  const cron = r.state === 'invalid' ? null : describeCron(r.cron_schedule);
  fact(dl, 'cron', r.cron_schedule + (cron ? ' (' + cron.words + ')' : ''));
  fact(dl, 'time zone', r.timezone);
  fact(dl, 'active', r.active ? 'yes' : 'no');
  fact(dl, 'handlers', r.handlers.join(', ') || 'none');
  if (r.tick_sql) fact(dl, 'tick_sql', r.tick_sql);
  const p = r.policies;
  fact(dl, 'timeout', p.timeout_ms === null ? 'default' : p.timeout_ms + ' ms');
  fact(dl, 'attempts', p.max_attempts + ' (backoff ' + p.retry_backoff_ms + ' ms)');
  fact(dl, 'overlap', p.overlap);
  fact(dl, 'start window', p.start_window_ms === null ? 'default' : p.start_window_ms + ' ms');
  fact(dl, 'jitter', p.jitter_ms + ' ms');
  fact(dl, 'requests waiting', r.pending_requests);
  fact(dl, 'updated', utc(r.updated_at));
  $('r-facts').replaceWith(dl);
  dl.id = 'r-facts';

  const next = (r.next_fires || []).map((t) => {
    const li = el('li', 'mono', utc(t));
    li.title = until(t);
    return li;
  });
  if (!next.length) next.push(el('li', 'muted', 'not scheduled (' + r.state + ')'));
  $('r-next').replaceChildren(...next);

  $('audit-rows').replaceChildren(
    ...r.audit.map((a) => {
      const tr = el('tr');
      tr.append(
        td(utc(a.at), 'mono'),
        td(a.op),
        td(a.actor),
        td(a.old ? JSON.stringify(a.old) : '', 'mono'),
        td(a.new ? JSON.stringify(a.new) : '', 'mono'),
      );
      return tr;
    }),
  );
}

function runRow(run) {
  const tr = el('tr');
  tr.dataset.runId = run.id;
  const details = td('', 'details');
  if (run.details && Object.keys(run.details).length) {
    const box = el('details');
    box.appendChild(el('summary', null, 'show'));
    box.appendChild(el('pre', 'mono', JSON.stringify(run.details, null, 2)));
    details.appendChild(box);
  }
  const trigger = run.trigger + (run.requested_by ? ' by ' + run.requested_by : '');
  const error = run.error || (run.cancel_requested_at ? 'cancel asked by ' + (run.cancel_requested_by || '?') : '');
  tr.append(
    td(run.id, 'mono'),
    td(utc(run.scheduled_for), 'mono'),
    td(run.status, 'status s-' + run.status),
    td(trigger, 'trigger'),
    td(run.attempt),
    td(seconds(run.lateness_seconds)),
    td(run.duration_seconds === null ? 'running' : seconds(run.duration_seconds)),
    td(run.replica_id, 'mono'),
    td(error, 'error'),
    details,
  );
  return tr;
}

function renderRuns(doc) {
  const rows = doc.runs.map(runRow);
  if (!rows.length) {
    const tr = el('tr');
    const cell = td('no runs on this page', 'muted');
    cell.colSpan = 10;
    tr.appendChild(cell);
    rows.push(tr);
  }
  $('run-rows').replaceChildren(...rows);
  state.nextCursor = doc.next_cursor;
  $('runs-older').disabled = doc.next_cursor === null;
  $('runs-newer').disabled = state.runCursors.length === 1;
  $('runs-page').textContent = 'page ' + state.runCursors.length;
}

// Durations (bars) and lateness (line) of the recent runs, oldest on the left, one scale.
function renderChart(runs) {
  const NS = 'http://www.w3.org/2000/svg';
  const svgEl = (tag, attrs, cls) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (cls) node.setAttribute('class', cls);
    return node;
  };
  const W = 600;
  const H = 150;
  const top = 18;
  const bottom = H - 16;
  const svg = svgEl('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img' }, 'chart');
  const caption = document.createElementNS(NS, 'title');
  caption.textContent = 'duration (bars) and lateness (line) of the last ' + runs.length + ' runs';
  svg.appendChild(caption);
  const ordered = runs.slice().reverse();
  if (!ordered.length) {
    const t = svgEl('text', { x: 10, y: H / 2 });
    t.textContent = 'no runs yet';
    svg.appendChild(t);
    $('r-chart').replaceChildren(svg);
    return;
  }
  const max = Math.max(0.001, ...ordered.map((r) => Math.max(r.duration_seconds || 0, r.lateness_seconds || 0)));
  const y = (s) => bottom - (Math.max(0, s) / max) * (bottom - top);
  const step = W / ordered.length;
  const points = [];
  ordered.forEach((r, i) => {
    const d = r.duration_seconds || 0;
    const bar = svgEl(
      'rect',
      { x: i * step + step * 0.15, y: y(d), width: Math.max(1, step * 0.7), height: bottom - y(d) },
      r.status === 'failed' || r.status === 'abandoned' ? 'failed' : 'duration',
    );
    const tip = document.createElementNS(NS, 'title');
    tip.textContent = utc(r.scheduled_for) + ' ' + r.status + ': took ' + seconds(d) + ', ' + seconds(r.lateness_seconds) + ' late';
    bar.appendChild(tip);
    svg.appendChild(bar);
    points.push([i * step + step / 2, y(r.lateness_seconds || 0)]);
  });
  svg.appendChild(svgEl('polyline', { points: points.map((p) => p.join(',')).join(' ') }, 'lateness'));
  for (const [px, py] of points) svg.appendChild(svgEl('circle', { cx: px, cy: py, r: 2 }, 'lateness-dot'));
  svg.appendChild(svgEl('line', { x1: 0, y1: bottom, x2: W, y2: bottom }, 'axis'));
  const legend = svgEl('text', { x: 4, y: 12 });
  legend.textContent = 'max ' + seconds(max) + ' · bars: duration (red: failed) · line: lateness';
  svg.appendChild(legend);
  $('r-chart').replaceChildren(svg);
}

async function loadRegion(code) {
  const path = '/v1/regions/' + enc(code);
  const cursor = state.runCursors[state.runCursors.length - 1];
  const [region, page, recent] = await Promise.all([
    api('GET', path),
    api('GET', path + '/runs?limit=' + RUNS_PAGE + (cursor === null ? '' : '&cursor=' + enc(cursor))),
    api('GET', path + '/runs?limit=' + CHART_RUNS),
  ]);
  if (state.openCode !== code) return; // another region was opened meanwhile
  renderRegion(region);
  renderRuns(page);
  renderChart(recent.runs);
}

// ---- actions ----------------------------------------------------------------------------------

const ACTIONS = {
  trigger: { label: 'run now', body: () => ({ by: 'console' }) },
  pause: { label: 'pause', body: () => ({ by: 'console', reason: $('pause-reason').value.trim() || undefined }) },
  resume: { label: 'resume', body: () => ({ by: 'console' }) },
  cancel: { label: 'cancel', body: () => ({ by: 'console' }) },
};

function showResult(text, ok) {
  const out = $('action-result');
  out.className = ok ? 'ok' : 'error';
  out.textContent = text;
}

function act(name) {
  const code = state.openCode;
  const action = ACTIONS[name];
  withToken(async () => {
    showResult(action.label + ': asking...', true);
    try {
      const answer = await api('POST', '/v1/regions/' + enc(code) + '/' + name, action.body());
      showResult(action.label + ': ' + answer.message, true);
      if (name === 'pause') $('pause-reason').value = '';
    } catch (e) {
      // A token that does not match is forgotten, so the next action asks again.
      if (e.status === 401) forgetToken();
      showResult(action.label + ' refused (' + e.status + '): ' + e.message, false);
    }
    refreshSoon();
  });
}

// ---- views, refresh ---------------------------------------------------------------------------

function route() {
  const match = /^#\/region\/(.+)$/.exec(location.hash);
  const code = match ? decodeURIComponent(match[1]) : null;
  if (code === state.openCode) return;
  if (state.openCode === null) state.listScroll = $('list').scrollTop;
  state.openCode = code;
  state.runCursors = [null];
  $('action-result').textContent = '';
  $('list-view').hidden = code !== null;
  $('region-view').hidden = code === null;
  if (code === null) {
    // Before the first list there is nothing to draw, and the first page's request goes out
    // before the page's first layout rather than after it.
    if (state.listRendered) {
      $('list').scrollTop = state.listScroll;
      drawVisibleRows();
    }
  } else {
    // Not the previous region's figures under this one's name while it loads.
    for (const id of ['r-code', 'r-name', 'r-state', 'r-why']) $(id).textContent = '';
    $('r-code').textContent = code;
    $('run-rows').replaceChildren();
    $('audit-rows').replaceChildren();
    $('r-next').replaceChildren();
    $('r-chart').replaceChildren();
    $('r-facts').replaceChildren();
    window.scrollTo(0, 0);
  }
  refresh();
}

let refreshTimer = null;
let refreshing = false;
let refreshAgain = false;

function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 0);
}

// One refresh at a time; the next starts a few seconds after the last ends, later when
// refreshing is slow (a very large list), so that the page never keeps the replica busy.
async function refresh() {
  clearTimeout(refreshTimer);
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  const started = performance.now();
  try {
    const code = state.openCode;
    await Promise.all([code === null ? loadList() : loadRegion(code), loadReplicas()]);
    banner(null);
    $('refreshed').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    if (e.status === 401) {
      forgetToken();
      banner('This replica needs the API token to show its data (TICKD_API_AUTH=all): ' + e.message);
      if ($('token-dialog').hidden) askToken(refreshSoon);
    } else if (e.status === 404 && state.openCode !== null) {
      banner(e.message);
    } else {
      banner('Could not refresh: ' + e.message);
    }
  } finally {
    refreshing = false;
    if (refreshAgain) {
      refreshAgain = false;
      refreshSoon();
    } else {
      refreshTimer = setTimeout(refresh, Math.max(REFRESH_MS, 3 * (performance.now() - started)));
    }
  }
}

function start() {
  let drawPending = false; // one draw per frame, however many scroll events came
  $('list').addEventListener(
    'scroll',
    () => {
      if (drawPending) return;
      drawPending = true;
      requestAnimationFrame(() => {
        drawPending = false;
        drawVisibleRows();
      });
    },
    { passive: true },
  );
  window.addEventListener('resize', drawVisibleRows);
  let searchTimer = null; // a search per pause in the typing, not per keystroke
  $('search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(search, SEARCH_DEBOUNCE_MS);
  });
  $('token-use').addEventListener('click', useToken);
  $('token-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') useToken();
  });
  $('token-cancel').addEventListener('click', () => {
    afterToken = null;
    $('token-dialog').hidden = true;
  });
  $('token-forget').addEventListener('click', forgetToken);
  for (const name of Object.keys(ACTIONS)) $('act-' + name).addEventListener('click', () => act(name));
  $('runs-older').addEventListener('click', () => {
    if (state.nextCursor === null) return;
    state.runCursors.push(state.nextCursor);
    refreshSoon();
  });
  $('runs-newer').addEventListener('click', () => {
    if (state.runCursors.length > 1) state.runCursors.pop();
    refreshSoon();
  });
  window.addEventListener('hashchange', route);
  showTokenState();
  state.openCode = undefined; // so that route() sets up whichever view the address names
  route();
}

start();
