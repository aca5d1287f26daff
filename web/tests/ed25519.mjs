// The in-browser verifier's signature rule (verify-core.js `signatureValid`) on C2SP/CCTV's
// Ed25519 edge-case vectors: prints the numbers of the vectors it accepts, as a JSON array,
// for tests/tests/passport.rs to compare with the Rust rule (docs/format.md §3.1).
// Usage: node ed25519.mjs VECTORS.json
import { readFileSync } from 'node:fs';
import { signatureValid } from '../dist/verify-core.js';

const bytes = (h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
const vectors = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accepted = vectors
  .filter((v) => signatureValid(bytes(v.sig), new TextEncoder().encode(v.msg), bytes(v.key)))
  .map((v) => v.number);
console.log(JSON.stringify(accepted));
