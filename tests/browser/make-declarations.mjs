// Prints N declarations (DATA.md JSON lines) of the browser-test trader at
// office 2201, declared now, so the mandatory test rule opens red controls.
const n = Number(process.argv[2] || 3);
const now = new Date();
const stamp = now.toISOString().replace(/\D/g, '').slice(2, 14);
const iso = new Date(now.getTime() + 8 * 3600e3).toISOString().slice(0, 19) + '+08:00';
for (let i = 0; i < n; i++) {
  console.log(
    JSON.stringify({
      id: `2201${stamp}${String(i).padStart(2, '0')}`,
      declared_at: iso,
      direction: 'import',
      office: '2201',
      transport_mode: 'sea',
      trade_mode: '0110',
      trader: { id: '91310000BROWSER01X', name: '上海浏览器测试贸易有限公司' },
      declarant: { id: '3120980123', name: '上海测试报关行' },
      overseas_party: { id: 'US-88213', name: 'Test Supplier Inc.', country: 'US' },
      country_of_departure: 'US',
      incoterm: 'CIF',
      currency: 'USD',
      items: [
        { line: 1, hs_code: '8517130000', description: '智能手机', origin: 'VN', quantity: 1200, unit: '台', net_weight_kg: 240.0, value: 180000 + i, duty_rate: 0.0 },
      ],
      documents: [{ kind: 'invoice', id: `INV-BT-${i}` }],
      attributes: {},
    }),
  );
}
