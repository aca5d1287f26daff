// The passport page in headless Chromium (the system's, never a downloaded one), driven by
// playwright-core; tests/tests/passport.rs runs it against a real `custody serve`.
// Usage: node browser.mjs PAGE_URL OUT_DIR TAMPERED.json
//   TAMPERED.json: [{"file": bundle path, "expect": text the failure must name}]
// Prints one JSON object with what it saw; exits 1 on the first assertion that fails.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const [url, out, tamperedFile] = process.argv.slice(2);
const tampered = JSON.parse(readFileSync(tamperedFile, 'utf8'));
const report = { steps: [] };
const check = (ok, what) => {
  if (!ok) {
    console.log(JSON.stringify({ ...report, failed: what }));
    process.exit(1);
  }
  report.steps.push(what);
};

const browser = await chromium.launch({ executablePath: process.env.CUSTODY_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Nothing but this server: a request elsewhere (a CDN) fails the test.
  const origin = new URL(url).origin;
  const foreign = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) foreign.push(r.url());
  });

  const verdict = async () => {
    await page.waitForSelector('#verify-status[data-result]', { timeout: 60000 });
    return { result: await page.getAttribute('#verify-status', 'data-result'), text: await page.textContent('#verify-status') };
  };

  await page.goto(url);
  const good = await verdict();
  report.verified = good.text;
  check(good.result === 'verified' && good.text.startsWith('Verified in your browser'), 'the demo module verifies in the browser');
  check(errors.length === 0, `no script errors (${errors.join('; ')})`);
  check(foreign.length === 0, `no request leaves the server (${foreign.join(', ')})`);

  // Desktop: no horizontal overflow, and the figures in the first screen.
  await page.screenshot({ path: join(out, 'passport-desktop.png') });
  const layout = async () =>
    page.evaluate(() => {
      const box = (sel) => {
        const r = document.querySelector(sel).getBoundingClientRect();
        return { top: r.top, bottom: r.bottom, left: r.left, right: r.right };
      };
      return {
        scrollWidth: document.documentElement.scrollWidth,
        width: window.innerWidth,
        height: window.innerHeight,
        figures: ['#carbon .big', '#carbon table', '#recycled table', '#origins table', '#diligence ul'].map(box),
      };
    });
  const desktop = await layout();
  report.desktop = desktop;
  check(desktop.scrollWidth <= desktop.width, 'desktop (1280 px): no horizontal overflow');
  check(desktop.figures.every((b) => b.bottom <= desktop.height && b.right <= desktop.width), 'desktop: the figures are visible without scrolling');

  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(out, 'passport-phone.png'), fullPage: true });
  const phone = await layout();
  report.phone = { scrollWidth: phone.scrollWidth, width: phone.width };
  check(phone.scrollWidth <= phone.width, 'phone (390 px): no horizontal overflow');

  // Accessibility: axe-core (WCAG 2.x A and AA rules), no violations.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  const axe = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return r.violations.map((v) => `${v.id}: ${v.nodes.length} (${v.help})`);
  });
  report.axe = axe;
  check(axe.length === 0, `axe-core: no violations (${axe.join('; ')})`);

  // Tampered bundles: the page must say exactly what failed.
  report.tampered = [];
  for (const t of tampered) {
    const bytes = readFileSync(t.file);
    await page.route('**/v1/lots/*/bundle', (route) => route.fulfill({ status: 200, contentType: 'application/octet-stream', body: bytes }));
    await page.reload();
    const bad = await verdict();
    report.tampered.push(bad.text);
    check(bad.result === 'failed' && bad.text.includes('Verification FAILED') && bad.text.includes(t.expect), `tampered bundle ${t.file}: names "${t.expect}" (got "${bad.text}")`);
    await page.unroute('**/v1/lots/*/bundle');
  }

  // Without JavaScript the page still shows every figure, and says what it did not check.
  const plain = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 800 } });
  const noJs = await plain.newPage();
  await noJs.goto(url);
  const text = await noJs.textContent('body');
  check(text.includes('kg CO2e per kWh') && text.includes('Countries of origin') && text.includes('needs JavaScript'), 'without JavaScript: the figures, and a note that the check needs it');
  await plain.close();
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
