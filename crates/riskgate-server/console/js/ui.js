// DOM helpers. Data from the API is only ever set as text, never as HTML.
import { t, lang, DICTIONARY } from './i18n.js';
import { download, saveBlob } from './api.js';

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function mount(target, ...children) {
  target.replaceChildren();
  append(target, children);
}

// A table from rows and column specs {label, get, num?, render?, export?}.
// Above it, "下载 CSV" and "下载 XLSX" download the rows shown (each cell's
// `export(r)`, else `get(r)`, else the rendered text); `title` names the
// file and the sheet (default: the page's heading).
export function table(columns, rows, { onRowClick, empty, testid, title } = {}) {
  const head = h('tr', {}, columns.map((c) => h('th', { class: c.num ? 'num' : null }, c.label)));
  const body = rows.length
    ? rows.map((r) =>
        h(
          'tr',
          { class: onRowClick ? 'clickable' : null, onclick: onRowClick ? () => onRowClick(r) : null },
          columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.render ? c.render(r) : fmtCell(c.get(r)))),
        ),
      )
    : [h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, empty || t('common.none')))];
  // Each table scrolls sideways in its own box: a wide table never widens the page.
  const wrap = h('div', { class: 'table-wrap' }, h('table', { 'data-testid': testid }, h('thead', {}, head), h('tbody', {}, body)));
  if (!rows.length) return wrap;
  const name = () => fileTitle(title || document.querySelector('main h1')?.textContent || t('export.table'));
  const run = (f) => async (ev) => {
    const b = ev.currentTarget;
    b.disabled = true;
    try {
      await f();
    } catch (e) {
      flash(describeError(e), false);
    } finally {
      b.disabled = false;
    }
  };
  const tools = h(
    'div',
    { class: 'table-tools' },
    h('button', { type: 'button', class: 'secondary small', 'data-testid': 'download-csv', onclick: run(async () => saveBlob(csvBlob(columns, rows), `${name()}.csv`)) }, t('export.csv')),
    h(
      'button',
      { type: 'button', class: 'secondary small', 'data-testid': 'download-xlsx', onclick: run(() => download('POST', '/exports/xlsx', xlsxBody(name(), columns, rows), `${name()}.xlsx`)) },
      t('export.xlsx'),
    ),
  );
  return h('div', { class: 'table-box' }, tools, wrap);
}

// A file name from a title: no path or reserved characters, not too long.
function fileTitle(s) {
  return String(s).replace(/[\\/:*?"<>|\s]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 80) || 'riskgate';
}

const labelText = (c) => (c.label instanceof Node ? c.label.textContent : String(c.label ?? ''));

// A cell as shown, for export: the column's `export`, else `get`, else the rendered text.
function cellText(c, r) {
  let v = c.export ? c.export(r) : c.get ? c.get(r) : c.render ? c.render(r) : '';
  if (v instanceof Node) v = v.textContent;
  if (v === undefined || v === null) return '';
  return typeof v === 'number' ? v : String(v);
}

// CSV as Excel opens it: UTF-8 with a byte-order mark (else Chinese turns
// to mojibake), CRLF, quoted where needed; a text that starts like a
// formula is kept text.
export function csvBlob(columns, rows) {
  const field = (v) => {
    let s = String(v);
    if (typeof v !== 'number' && /^[=+@]|^-(?![\d.])/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const lines = [columns.map((c) => field(labelText(c))), ...rows.map((r) => columns.map((c) => field(cellText(c, r))))];
  return new Blob(['\ufeff', lines.map((l) => l.join(',')).join('\r\n'), '\r\n'], { type: 'text/csv;charset=utf-8' });
}

// A shown number back to a number: "1,234" → 1234, "12.50%" → 0.125; else null.
function shownNumber(s) {
  const x = String(s).replace(/[,\s]/g, '').replace('−', '-');
  const pct = x.endsWith('%');
  const n = pct ? x.slice(0, -1) : x;
  if (!/^-?\d+(\.\d+)?$/.test(n)) return null;
  return { value: pct ? Number(n) / 100 : Number(n), pct };
}

// The body of POST /exports/xlsx: numeric columns as numbers (percentages
// as fractions with a percent format), the rest as text.
export function xlsxBody(title, columns, rows) {
  const cells = rows.map((r) => columns.map((c) => cellText(c, r)));
  const kinds = columns.map((c, j) => {
    if (!c.num) return 'text';
    const parsed = cells.map((row) => row[j]).filter((v) => v !== '' && v !== '—').map((v) => (typeof v === 'number' ? { value: v, pct: false } : shownNumber(v)));
    if (!parsed.length || parsed.some((p) => p === null)) return 'text';
    return parsed.some((p) => p.pct) ? 'percent' : 'number';
  });
  const out = cells.map((row) =>
    row.map((v, j) => {
      if (v === '' || v === '—') return null;
      if (kinds[j] === 'text') return String(v);
      return typeof v === 'number' ? v : shownNumber(v).value;
    }),
  );
  return { title, columns: columns.map((c, j) => ({ label: labelText(c), kind: kinds[j] })), rows: out };
}

function fmtCell(v) {
  if (v === undefined || v === null || v === '') return '—';
  return v;
}

export function pct(v, digits = 2) {
  if (v === undefined || v === null || Number.isNaN(v)) return '—';
  return `${(v * 100).toFixed(digits)}%`;
}

export function num(v, digits = 0) {
  if (v === undefined || v === null || Number.isNaN(Number(v))) return '—';
  return Number(v).toLocaleString(lang() === 'zh' ? 'zh-CN' : 'en-GB', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function dt(v) {
  if (v === undefined || v === null || v === '') return '—';
  // Store times may come as epoch seconds.
  const d = typeof v === 'number' ? new Date(v < 1e11 ? v * 1000 : v) : new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  // yyyy-mm-dd HH:MM and the zone of the reader's clock (UTC+8 in China).
  const p = (n) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const zone = `UTC${off === 0 ? '' : `${off > 0 ? '+' : '−'}${Math.floor(Math.abs(off) / 60)}${Math.abs(off) % 60 ? `:${p(Math.abs(off) % 60)}` : ''}`}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())} ${zone}`;
}

// Who did something, as the reader should see it: an account's name, or
// the store's local operator (`local:NAME`, a command run without logging
// in: docs/security.md) worded as such.
export function person(name) {
  // The system's own actors: referrals opened by a rule, scheduled jobs.
  if (name === 'system' || name === 'scheduler') return t(`common.actor_${name}`);
  if (typeof name !== 'string' || !name.startsWith('local:')) return name ?? '';
  const claimed = name.slice('local:'.length);
  return claimed && claimed !== 'cli' ? t('common.local_operator_named', { name: claimed }) : t('common.local_operator');
}

export function chip(kind, text) {
  return h('span', { class: `chip ${kind || ''}` }, text ?? kind ?? '—');
}

export function channelChip(ch) {
  return ch ? chip(ch, t(`channel.${ch}`)) : '—';
}

export function levelChip(l) {
  return l ? chip(l, t(`level.${l}`)) : '—';
}

export function errorBox(err) {
  const detail = errorDetail(err);
  return h('div', { class: 'error', role: 'alert', 'data-testid': 'error', 'data-code': err?.code || null, title: detail || null }, describeError(err));
}

// The API's error body: {error: {code, message, field?, line?, column?}}.
// The reader's words come from the dictionary by `code`; the server's
// message (English, for logs and developers) is only the secondary detail
// (errorDetail, on hover). Errors made here carry no code: their message
// is already the reader's.
export function describeError(err) {
  if (!err) return '';
  const known = err.code && DICTIONARY[`errcode.${err.code}`];
  let s = known ? t(`errcode.${err.code}`) : err.message || String(err);
  if (err.line) s += ` (${t('error.line', { line: err.line, column: err.column ?? '—' })})`;
  if (err.field) s += ` (${t('error.field')}: ${err.field})`;
  return s;
}

export function errorDetail(err) {
  return err?.code && DICTIONARY[`errcode.${err.code}`] && err.message ? err.message : '';
}

export function flash(msg, ok = true) {
  const box = document.getElementById('flash');
  box.replaceChildren(h('div', { class: ok ? 'ok-msg' : 'error' }, msg));
  box.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => (box.hidden = true), 4000);
}

// The count under a table: 共 n 条 when the server answered fewer rows
// than asked (`limit`), else 显示前 n 条 (there may be more) and, below the
// API's `max`, a link to the same list with a larger limit (`more(limit)`:
// its href); the list APIs take no offset.
export function rowsNote(n, limit, { more, max } = {}) {
  if (n < limit) return h('p', { class: 'muted', 'data-testid': 'rows-note' }, t('common.rows', { n }));
  const next = max ? Math.min(max, limit * 2) : 0;
  return h(
    'p',
    { class: 'muted', 'data-testid': 'rows-note' },
    t(max && limit >= max ? 'common.rows_max' : 'common.rows_first', { n }),
    more && next > limit ? [' ', h('a', { href: more(next), 'data-testid': 'rows-more' }, t('common.show_more', { n: next }))] : null,
  );
}

// One page of a list: `fetchRows(limit, offset)` is asked for one row more
// than shown, which says whether a next page exists (`max`: the most the
// API answers at once).
export async function fetchPage(fetchRows, { limit, offset, max }) {
  const got = await fetchRows(Math.min(max, limit + 1), offset || undefined);
  return { rows: got.slice(0, limit), hasNext: got.length > limit || got.length >= max };
}

// What a paged list says under its rows: how many (第 101–200 条 on later
// pages; on the first, 显示更多 when more exist) and 上一页/下一页.
// `href(offset, limit)` is the link to another page or a longer first one.
export function pageFooter({ n, limit, offset, hasNext, max, href }) {
  const note =
    offset === 0 && hasNext
      ? rowsNote(n, limit, { max, more: (m) => href(0, m) })
      : h('p', { class: 'muted', 'data-testid': 'rows-note' }, offset === 0 ? t('common.rows', { n }) : t('common.page_rows', { a: n ? offset + 1 : offset, b: offset + n }));
  if (offset === 0 && !hasNext) return note;
  return [
    note,
    h(
      'p',
      { class: 'pager', 'data-testid': 'pager' },
      offset > 0 ? h('a', { href: href(Math.max(0, offset - limit), limit), 'data-testid': 'page-prev' }, `‹ ${t('common.prev_page')}`) : null,
      offset > 0 && hasNext ? ' · ' : null,
      hasNext ? h('a', { href: href(offset + limit, limit), 'data-testid': 'page-next' }, `${t('common.next_page')} ›`) : null,
    ),
  ];
}

export function loading() {
  return h('p', { class: 'muted' }, t('common.loading'));
}

// An inline form: on submit, `msg` is cleared, an empty required field
// (required: name → message key) is refused before anything is sent, then
// `send(values)` runs; what goes wrong shows in `msg`.
export function inlineForm(testid, msg, required, send, ...children) {
  const form = h(
    'form',
    {
      class: 'inline',
      'data-testid': testid,
      onsubmit: async (ev) => {
        ev.preventDefault();
        const v = formValues(form);
        msg.replaceChildren();
        const missing = Object.keys(required).find((name) => !v[name]);
        if (missing) return msg.replaceChildren(errorBox({ message: t(required[missing]), field: missing }));
        try {
          await send(v);
        } catch (e) {
          msg.replaceChildren(errorBox(e));
        }
      },
    },
    ...children,
  );
  return form;
}

// Form values as an object (empty strings dropped).
export function formValues(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) {
    if (typeof v === 'string' && v.trim() !== '') out[k] = v.trim();
  }
  return out;
}

// A form whose submission runs `send(fields)` (its FormData); whatever it
// throws — the server's refusal, or a `{message, field}` of our own checks —
// shows under the form.
export function sendForm(attrs, send, ...children) {
  const msg = h('div');
  const form = h(
    'form',
    {
      ...attrs,
      onsubmit: async (ev) => {
        ev.preventDefault();
        msg.replaceChildren();
        try {
          await send(new FormData(form));
        } catch (e) {
          msg.replaceChildren(errorBox(e));
        }
      },
    },
    ...children,
    msg,
  );
  return form;
}

// `{message, field}` for `sendForm` when a required text is blank.
export function required(fields, name, message) {
  if (!String(fields.get(name) || '').trim()) throw { message, field: name };
}
