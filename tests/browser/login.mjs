// The console's login form, for the tests and the page measurements alike:
// opened with one navigation (a second, hash-only one would re-render the
// form while it is being filled), filled, sent; resolves once the
// navigation of a logged-in user shows.
export async function submitLogin(page, base, name, password) {
  await page.goto(`${base}/#/login`);
  await page.waitForSelector('form input[name=username]');
  await page.fill('input[name=username]', name);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#topbar:not([hidden]) #nav a');
}
