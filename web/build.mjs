// Builds dist/: the verifier's own modules (src/) and the two audited libraries it uses,
// copied unchanged from node_modules (installed with `npm ci` from package-lock.json, which
// checks every package's integrity hash). dist/ is committed, because the server embeds it
// at compile time; tests/tests/passport.rs rebuilds it and requires identical bytes.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, process.argv[2] ?? 'dist');
const files = [
  ['src/verify.js', 'verify.js'],
  ['src/verify-core.js', 'verify-core.js'],
  ['node_modules/@noble/ed25519/index.js', 'vendor/noble-ed25519.js'],
  ['node_modules/@noble/ed25519/LICENSE', 'vendor/noble-ed25519.LICENSE'],
  ['node_modules/@noble/hashes/sha2.js', 'vendor/noble-hashes/sha2.js'],
  ['node_modules/@noble/hashes/_md.js', 'vendor/noble-hashes/_md.js'],
  ['node_modules/@noble/hashes/_u64.js', 'vendor/noble-hashes/_u64.js'],
  ['node_modules/@noble/hashes/utils.js', 'vendor/noble-hashes/utils.js'],
  ['node_modules/@noble/hashes/LICENSE', 'vendor/noble-hashes/LICENSE'],
];
const lock = JSON.parse(readFileSync(join(here, 'package-lock.json'), 'utf8'));
const manifest = ['# dist/, built by build.mjs: SHA-256 of each file, and the lockfile integrity of the packages they come from'];
for (const pkg of ['@noble/ed25519', '@noble/hashes']) {
  const entry = lock.packages[`node_modules/${pkg}`];
  manifest.push(`package ${pkg} ${entry.version} ${entry.integrity}`);
}
for (const [from, to] of files) {
  mkdirSync(dirname(join(out, to)), { recursive: true });
  copyFileSync(join(here, from), join(out, to));
  const digest = createHash('sha256').update(readFileSync(join(out, to))).digest('hex');
  manifest.push(`${digest}  ${to}`);
}
writeFileSync(join(out, 'MANIFEST'), manifest.join('\n') + '\n');
