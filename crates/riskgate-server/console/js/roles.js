// Which pages a user is shown. The server's /me lists the caller's
// permissions; a page is shown when the user holds the permission it needs.
// Hiding is a convenience only: the server enforces every permission and the
// console shows its refusal.
import { get, items } from './api.js';
import { session } from './state.js';
const ALIASES = {
  officer: 'field_officer',
  analyst: 'risk_analyst',
  supervisor: 'integrity_supervisor',
  department: 'department_user',
  admin: 'administrator',
  machine: 'machine_client',
};

export function normRole(r) {
  const k = String(r || '')
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
  return ALIASES[k] || k;
}

// page → the permission (as named by the server) it needs, or a list of
// which any one will do.
export const PAGES = [
  { key: 'overview', perm: 'ReadKpi' },
  { key: 'analysis', perm: 'ReadKpi' },
  { key: 'declarations', perm: 'ReadDeclarations' },
  // Field officers work there; managers and analysts look over open controls.
  { key: 'workbench', perm: 'ReadControls' },
  // A department user sees its own department's rules (the server filters).
  { key: 'rules', perm: ['ReadRuleStats', 'ReadDepartmentRules'] },
  { key: 'models', perm: 'ReadModels' },
  { key: 'enterprises', perm: 'ReadEnterprises' },
  { key: 'moneyflow', perm: 'ReadMoneyFlow' },
  { key: 'post-clearance', perm: 'SelectAudits' },
  { key: 'integrity', perm: 'ReadActions' },
  { key: 'cases', perm: 'ReadCases' },
  { key: 'committees', perm: 'ReadCommittees' },
];

export function may(me, perm) {
  return !!me && Array.isArray(me.permissions) && me.permissions.includes(perm);
}

export function mayUse(me, page) {
  const p = PAGES.find((x) => x.key === page);
  return !p || [p.perm].flat().some((perm) => may(me, perm));
}

// Rule logic and the rules that fired are for risk analysts.
export function isAnalyst(me) {
  return may(me, 'RuleLogic');
}

// The offices the caller may choose: its own and those below it.
export async function officeChoices() {
  const all = items(await get('/offices'), 'offices');
  const mine = session.me?.office;
  if (!mine || !all.some((o) => o.code === mine)) return all;
  const below = new Set([mine]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const o of all) {
      if (o.parent && below.has(o.parent) && !below.has(o.code)) {
        below.add(o.code);
        grew = true;
      }
    }
  }
  return all.filter((o) => below.has(o.code));
}
