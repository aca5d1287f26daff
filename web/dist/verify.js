// The passport page's script: fetches the module's evidence bundle, checks it with
// verify-core.js against the operator key printed on the page, and says what it found.
// The page works without it; only this check needs JavaScript.

import { Failure, verifyBundle } from './verify-core.js';

const status = document.getElementById('verify-status');
const list = document.getElementById('verify-steps');
const section = document.getElementById('verify');

const show = (ok, text, steps) => {
  status.textContent = text;
  status.className = ok ? 'ok' : 'bad';
  status.dataset.result = ok ? 'verified' : 'failed';
  list.replaceChildren(
    ...steps.map((s) => {
      const li = document.createElement('li');
      li.textContent = s;
      return li;
    }),
  );
};

const run = async () => {
  const claims = JSON.parse(document.getElementById('passport-claims').textContent);
  const vkey = document.getElementById('vkey').textContent;
  const bundleUrl = section.dataset.bundle;
  status.textContent = 'Checking the evidence in your browser…';
  let bytes;
  try {
    const response = await fetch(bundleUrl, { cache: 'no-store' });
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    show(false, `Not verified: the evidence bundle could not be fetched (${e.message})`, []);
    return;
  }
  try {
    const steps = verifyBundle(bytes, vkey, claims);
    const verdict = claims.verdict === 'pass' ? '' : ' The ledger\'s own verdict for this battery is FAIL (see above).';
    show(true, `Verified in your browser: the evidence behind this page checks out against the operator key below.${verdict}`, steps);
  } catch (e) {
    const why = e instanceof Failure ? e.message : `the bundle could not be read (${e.message})`;
    show(false, `Verification FAILED in your browser: ${why}`, []);
  }
};

run();
