// The API client: same-origin fetch with the session cookie; errors become
// ApiError carrying the server's error body (code, message, field, line, column).
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || (typeof body === 'string' && body) || `HTTP ${status}`);
    this.status = status;
    this.code = e.code;
    this.field = e.field;
    this.line = e.line;
    this.column = e.column;
    this.details = e;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) {
  onUnauthorized = f;
}

// One request: the session cookie, a JSON body if any; a refusal becomes
// an ApiError carrying the server's error body (a 401 also signs out).
async function send(method, path, body, accept, quiet401) {
  const opts = { method, credentials: 'same-origin', headers: accept ? { Accept: accept } : {} };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`/api/v1${path}`, opts);
  } catch (e) {
    throw new ApiError(0, { error: { code: 'network', message: String(e.message || e) } });
  }
  if (!res.ok) {
    if (res.status === 401 && !quiet401) onUnauthorized();
    throw new ApiError(res.status, parsed(await res.text()));
  }
  return res;
}

// JSON when it parses, else the text itself (null when empty).
function parsed(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function api(method, path, body, { quiet401 = false } = {}) {
  const res = await send(method, path, body, 'application/json', quiet401);
  return parsed(await res.text());
}

// A file from the API (a report, a table as XLSX), fetched with the session
// cookie like any request, then saved through an object URL: a plain link
// could not carry a JSON body, and the refusal shows like any other.
export async function download(method, path, body, name) {
  const res = await send(method, path, body, null, false);
  const given = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '');
  saveBlob(await res.blob(), name || (given && given[1]) || 'riskgate-download');
}

// Saves `blob` as a file named `name` (the browser's download).
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}

export const get = (p, o) => api('GET', p, undefined, o);
export const post = (p, b, o) => api('POST', p, b ?? {}, o);
export const put = (p, b, o) => api('PUT', p, b ?? {}, o);
export const del = (p, o) => api('DELETE', p, undefined, o);

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : '';
}

// Lists may come bare or wrapped ({items: [...]}, {rules: [...]} …).
export function items(data, ...keys) {
  if (Array.isArray(data)) return data;
  if (!data || typeof data !== 'object') return [];
  for (const k of [...keys, 'items', 'data', 'results']) if (Array.isArray(data[k])) return data[k];
  return [];
}
