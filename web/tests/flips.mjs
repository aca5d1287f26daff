// Runs the in-browser verifier (verify-core.js) in Node on every `stride`-th single-byte
// change of a bundle, and prints the positions it accepted as a JSON array: the Rust
// verifier rejects every one (tests/tests/passport.rs), and so must this one.
// Usage: node flips.mjs BUNDLE VKEY STRIDE
import { readFileSync } from 'node:fs';
import { verifyBundle } from '../dist/verify-core.js';

const [file, vkey, stride] = process.argv.slice(2);
const bytes = new Uint8Array(readFileSync(file));
verifyBundle(bytes, vkey, null);
const accepted = [];
for (let i = 0; i < bytes.length; i += Number(stride)) {
  const changed = bytes.slice();
  changed[i] ^= 0x01;
  try {
    verifyBundle(changed, vkey, null);
    accepted.push(i);
  } catch {
    // Rejected, as it must be.
  }
}
console.log(JSON.stringify(accepted));
