// Which pages each role is shown. Hiding is a convenience only: the server
// enforces every permission and the console shows its refusal.
const ALIASES = {
  officer: 'field_officer',
  field_officer: 'field_officer',
  analyst: 'risk_analyst',
  risk_analyst: 'risk_analyst',
  district_manager: 'district_manager',
  hq_manager: 'hq_manager',
  integrity_supervisor: 'integrity_supervisor',
  supervisor: 'integrity_supervisor',
  department: 'department_user',
  department_user: 'department_user',
  admin: 'administrator',
  administrator: 'administrator',
  machine: 'machine_client',
  machine_client: 'machine_client',
};

export function normRole(r) {
  const k = String(r || '')
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
  return ALIASES[k] || k;
}

const ALL_PEOPLE = [
  'field_officer',
  'risk_analyst',
  'district_manager',
  'hq_manager',
  'integrity_supervisor',
  'department_user',
  'administrator',
];

export const PAGES = [
  { key: 'overview', roles: ALL_PEOPLE },
  { key: 'declarations', roles: ['field_officer', 'risk_analyst', 'district_manager', 'hq_manager', 'department_user'] },
  { key: 'workbench', roles: ['field_officer'] },
  { key: 'rules', roles: ['risk_analyst'] },
  { key: 'models', roles: ['risk_analyst', 'district_manager', 'hq_manager'] },
  { key: 'enterprises', roles: ['field_officer', 'risk_analyst', 'district_manager', 'hq_manager', 'department_user'] },
  { key: 'integrity', roles: ['integrity_supervisor'] },
];

export function mayUse(role, page) {
  const p = PAGES.find((x) => x.key === page);
  return !p || p.roles.includes(normRole(role));
}

export function isAnalyst(role) {
  return normRole(role) === 'risk_analyst';
}
