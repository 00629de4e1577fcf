// Officers by name: the officer registry (GET /officers) for readers who
// may read it; an id the registry names reads 姓名 (id), any other stays
// as it is (the English console keeps ids: the names are Chinese). Loaded once per signed-in user; without the permission, or if
// the registry cannot be read, ids stay ids.
import { get, items } from './api.js';
import { session } from './state.js';
import { may } from './roles.js';
import { lang } from './i18n.js';

let cache = { user: null, names: null };

export async function officerNames() {
  const user = session.me?.username ?? null;
  if (cache.user === user && cache.names) return cache.names;
  let names = new Map();
  if (session.me && may(session.me, 'ReadOfficers')) {
    try {
      names = new Map(items(await get('/officers'), 'officers').map((o) => [o.id, o.name]));
    } catch {
      names = new Map();
    }
  }
  cache = { user, names };
  return names;
}

// "张警官 (zhang.officer)" when the registry names the id, else the id.
export function officerLabel(names, id) {
  if (id === undefined || id === null || id === '') return id ?? '';
  // The registry's names are in Chinese script: the English console keeps the id.
  if (lang() !== 'zh') return id;
  const name = names?.get(id);
  return name && name !== id ? `${name} (${id})` : id;
}
