// The passport page's in-browser verifier: a second, independent implementation of
// `custody verify --bundle` (docs/format.md §8), written from docs/format.md alone, for the
// checks a visitor's browser can make against the figures the page shows. It never trusts
// the server that sent the page: every check is against the operator key printed on it.
//
// What it checks, in order (each failure names the entry and the field):
//   1. the bundle header and canonical body (no trailing bytes);
//   2. the checkpoint's C2SP signed note under the operator verifier key;
//   3. the RFC 6962 inclusion proof of every entry, and of the completeness entry;
//   4. every statement signature (over the checkpoint's origin), under the signature rule
//      of docs/format.md §3.1, and that the signer is a key enrolled for the actor;
//   5. every hash link (a consuming event's `from`, a receive's `shipment`) and the
//      quantities drawn along them (no receipt gives more than it holds);
//   6. the subject-index proofs of completeness;
//   7. the page's claims: the product as created and its countries of origin per element.
// It does not replay the due-diligence policy or recompute the carbon footprint; the
// page says so (docs/passport.md, "Limits").

import * as ed from './vendor/noble-ed25519.js';
import { sha256, sha512 } from './vendor/noble-hashes/sha2.js';

ed.hashes.sha512 = sha512;

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** A verification failure: `message` says what failed, naming the entry and field. */
export class Failure extends Error {}

const fail = (message) => {
  throw new Failure(message);
};

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const u64le = (n) => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
};

const base64 = (text, what) => {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) fail(`${what}: not base64`);
  const bin = atob(text);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
};

/** A reader of the canonical codec (docs/format.md §1): bincode legacy, little-endian. */
class Reader {
  constructor(bytes, what) {
    this.b = bytes;
    this.at = 0;
    this.what = what;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n) {
    if (this.at + n > this.b.length) fail(`${this.what}: truncated at byte ${this.at}`);
  }
  u8() {
    this.need(1);
    return this.b[this.at++];
  }
  u32() {
    this.need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  u64() {
    this.need(8);
    const v = this.view.getBigUint64(this.at, true);
    this.at += 8;
    return v;
  }
  i64() {
    this.need(8);
    const v = this.view.getBigInt64(this.at, true);
    this.at += 8;
    return v;
  }
  /** A length or count: a u64 that must fit what is left. */
  len() {
    const n = this.u64();
    if (n > BigInt(this.b.length - this.at)) fail(`${this.what}: a length of ${n} runs past the end`);
    return Number(n);
  }
  raw(n) {
    this.need(n);
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  bytes() {
    return this.raw(this.len());
  }
  str() {
    try {
      return dec.decode(this.bytes());
    } catch {
      fail(`${this.what}: a string is not UTF-8 at byte ${this.at}`);
    }
  }
  digest() {
    return this.raw(32);
  }
  seq(item) {
    const n = this.len();
    const out = [];
    for (let i = 0; i < n; i++) out.push(item(this));
    return out;
  }
  option(item) {
    const tag = this.u8();
    if (tag === 0) return null;
    if (tag === 1) return item(this);
    return fail(`${this.what}: option tag ${tag} at byte ${this.at - 1}`);
  }
  done() {
    if (this.at !== this.b.length) fail(`${this.what}: ${this.b.length - this.at} trailing bytes`);
  }
}

const ROLES = ['miner', 'trader', 'refiner', 'manufacturer', 'recycler', 'transporter', 'auditor', 'operator'];
const KINDS = ['enroll', 'revoke', 'extract', 'recycle', 'ship', 'receive', 'transform', 'attest', 'amend', 'request-key', 'add-key'];

const quantity = (r) => {
  const unit = r.u32();
  if (unit > 1) fail(`${r.what}: quantity unit ${unit}`);
  return { unit: unit === 0 ? 'grams' : 'pieces', amount: r.u64() };
};
const lotOutput = (r) => ({
  lot: r.str(),
  material: r.str(),
  quantity: quantity(r),
  content: Object.fromEntries(r.seq((r) => [r.str(), r.u64()])),
  capacity_wh: r.option((r) => r.u64()),
  unit_mass_mg: r.option((r) => r.u64()),
});
const lotMove = (r) => ({ lot: r.str(), quantity: quantity(r), from: hex(r.digest()) });

/** The event of docs/format.md §2. */
const event = (r) => {
  const e = {
    actor: r.str(),
    time: r.i64(),
    nonce: r.u64(),
    emissions_g: r.option((r) => r.u64()),
    documents: r.seq((r) => ({ name: r.str(), sha256: hex(r.digest()) })),
  };
  const index = r.u32();
  e.kind = KINDS[index] ?? fail(`${r.what}: unknown event kind ${index}`);
  const roles = (r) => r.seq((r) => ROLES[r.u32()] ?? fail(`${r.what}: unknown role`));
  switch (e.kind) {
    case 'enroll':
      Object.assign(e, { party: r.str(), name: r.str(), country: r.str(), roles: roles(r), keys: r.seq((r) => hex(r.raw(32))) });
      break;
    case 'revoke':
      Object.assign(e, { party: r.str(), key: hex(r.raw(32)) });
      break;
    case 'extract':
      e.site = { id: r.str(), country: r.str(), latLon: r.raw(8), method: r.u32() };
      e.outputs = r.seq(lotOutput);
      break;
    case 'recycle':
      e.feedstock = r.u32();
      e.outputs = r.seq(lotOutput);
      break;
    case 'ship':
      Object.assign(e, { to: r.str(), lots: r.seq(lotMove) });
      break;
    case 'receive':
      Object.assign(e, { shipment: hex(r.digest()), lots: r.seq((r) => ({ lot: r.str(), quantity: quantity(r) })) });
      break;
    case 'transform':
      Object.assign(e, { inputs: r.seq(lotMove), outputs: r.seq(lotOutput) });
      break;
    case 'attest': {
      const subject = r.u32();
      if (subject > 1) fail(`${r.what}: attestation subject ${subject}`);
      e.subject = { kind: subject === 0 ? 'party' : 'lot', id: r.str() };
      Object.assign(e, {
        claim: r.u32(),
        result: r.option((r) => r.u32()),
        score: r.option((r) => r.u8()),
        reference: r.option((r) => r.str()),
        severity: r.option((r) => r.u32()),
        valid_until: r.option((r) => r.i64()),
      });
      break;
    }
    case 'amend':
      Object.assign(e, { party: r.str(), name: r.str(), country: r.str(), roles: roles(r) });
      break;
    case 'request-key':
      e.key = hex(r.raw(32));
      break;
    case 'add-key':
      Object.assign(e, { party: r.str(), key: hex(r.raw(32)), request: hex(r.digest()) });
      break;
  }
  return e;
};

// docs/format.md §3.1, S2: the eight encodings of small-order points, refused as R.
const SMALL_ORDER = new Set([
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
]);

/**
 * The signature rule of docs/format.md §3.1. noble's strict branch (`zip215: false`) decodes
 * A and R canonically (K1, S2 but the small-order list, S3), requires S < L (S1), refuses a
 * small-order A (K2) and checks the cofactored equation (S4); the small-order R list (S2)
 * and the prime-order subgroup check of A (K3) are added here.
 */
export const signatureValid = (signature, message, key) => {
  if (signature.length !== 64 || key.length !== 32) return false;
  if (SMALL_ORDER.has(hex(signature.subarray(0, 32)))) return false;
  let point;
  try {
    point = ed.Point.fromBytes(key, false);
  } catch {
    return false;
  }
  if (point.isSmallOrder() || !point.isTorsionFree()) return false;
  try {
    return ed.verify(signature, message, key, { zip215: false });
  } catch {
    return false;
  }
};

const leafHash = (bytes) => sha256(concat(Uint8Array.of(0), bytes));
const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

/** RFC 9162 §2.1.3.2: whether `path` proves `leaf` at `index` in the tree of `size` with `root`. */
export const inclusionHolds = (leaf, index, size, path, root) => {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equal(r, root);
};

/** Parses a C2SP vkey `<name>+<key id hex>+<base64(0x01 || key)>`. */
const parseVkey = (vkey) => {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey.trim());
  if (!m) fail('operator verifier key: not a C2SP vkey (name+keyid+key)');
  const raw = base64(m[3], 'operator verifier key');
  if (raw.length !== 33 || raw[0] !== 1) fail('operator verifier key: not an Ed25519 key (type 0x01)');
  const key = raw.subarray(1);
  const id = sha256(concat(enc.encode(m[1]), Uint8Array.of(0x0a, 0x01), key)).subarray(0, 4);
  if (hex(id) !== m[2]) fail('operator verifier key: its key ID does not match its key');
  return { name: m[1], id, key };
};

/** Opens the checkpoint note under `vkey`: its origin, size and root (docs/format.md §6). */
const openCheckpoint = (note, vkey) => {
  const split = note.indexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) fail('checkpoint: not a signed note');
  const text = note.slice(0, split + 1);
  const lines = text.split('\n').slice(0, -1);
  if (lines.length < 3) fail('checkpoint: fewer than three lines');
  const [origin, sizeText, rootText] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) fail('checkpoint: the size is not a decimal');
  const root = base64(rootText, 'checkpoint root');
  if (root.length !== 32) fail('checkpoint: the root is not 32 bytes');
  if (origin !== vkey.name) fail(`checkpoint: its origin ${origin} is not the operator key's name ${vkey.name}`);
  let signed = false;
  for (const line of note.slice(split + 2).split('\n').filter((l) => l !== '')) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m) fail('checkpoint: a signature line is malformed');
    if (m[1] !== vkey.name) continue;
    const sig = base64(m[2], 'checkpoint signature');
    if (sig.length !== 68 || !equal(sig.subarray(0, 4), vkey.id)) continue;
    if (!signatureValid(sig.subarray(4), enc.encode(text), vkey.key)) {
      fail('checkpoint: the operator signature does not verify under the key printed on this page');
    }
    signed = true;
  }
  if (!signed) fail('checkpoint: not signed by the operator key printed on this page');
  return { origin, size: BigInt(sizeText), root };
};

const EVENT_TAG = enc.encode('custody/event/v1\0');
const STATEMENT_TAG = enc.encode('custody/statement/v2\0');
const tag = (t) => enc.encode(`custody/${t}/v1\0`);

/** Decodes one entry (docs/format.md §3); the event's bytes sit between the fixed head and the signer. */
const decodeEntry = (bytes, what) => {
  const r = new Reader(bytes, what);
  const seq = r.u64();
  r.raw(32 + 8 + 32); // prev, recorded_at, subjects
  const subjects = bytes.subarray(48, 80);
  const start = r.at;
  const ev = event(r);
  const eventBytes = bytes.subarray(start, r.at);
  const signer = r.raw(32);
  const signature = r.raw(64);
  r.done();
  const id = sha256(concat(EVENT_TAG, eventBytes));
  return { seq, subjects, event: ev, id: hex(id), idBytes: id, signer, signature };
};

/** The subjects an entry is about (docs/format.md §3.2). */
const subjectsOf = (e) => {
  const out = [];
  if (['enroll', 'revoke', 'amend', 'add-key'].includes(e.kind)) out.push(`p:${e.party}`);
  if (e.kind === 'request-key') out.push(`p:${e.actor}`);
  if (e.kind === 'attest') {
    const s = `${e.subject.kind === 'party' ? 'p' : 'l'}:${e.subject.id}`;
    if (!out.includes(s)) out.push(s);
  }
  return out;
};

const subjectKey = (s) => sha256(concat(tag('subject'), enc.encode(s[0]), enc.encode(s.slice(2))));
const bit = (key, i) => (key[i >> 3] & (0x80 >> (i & 7))) !== 0;

/** Whether `proof` shows `key` holding `value` (null: nothing) under `root` (docs/format.md §3.2). */
const subjectProofHolds = (proof, root, key, value) => {
  const depth = proof.siblings.length;
  if (depth > 255 || (depth > 0 && proof.siblings[depth - 1].every((b) => b === 0))) return false;
  const leaf = (k, v) => sha256(concat(tag('subject-leaf'), k, v));
  let h;
  const t = proof.terminal;
  if (t && value && equal(t.key, key) && equal(t.value, value)) h = leaf(t.key, t.value);
  else if (!t && !value) h = new Uint8Array(32);
  else if (t && !value && !equal(t.key, key) && [...Array(depth).keys()].every((i) => bit(t.key, i) === bit(key, i))) h = leaf(t.key, t.value);
  else return false;
  for (let i = depth - 1; i >= 0; i--) {
    const s = proof.siblings[i];
    h = bit(key, i) ? sha256(concat(tag('subject-node'), s, h)) : sha256(concat(tag('subject-node'), h, s));
  }
  return equal(h, root);
};

const amount = (q) => `${q.amount} ${q.unit}`;

/**
 * Verifies `bundleBytes` under the operator verifier key `vkeyText` and checks the page's
 * `claims` (none: the bundle alone). Returns the steps passed; throws a `Failure` naming
 * the first check that fails.
 */
export const verifyBundle = (bundleBytes, vkeyText, claims) => {
  const steps = [];
  const magic = enc.encode('custody-bundle\0');
  if (bundleBytes.length < 19 || !equal(bundleBytes.subarray(0, 15), magic)) fail('bundle: not a Custody evidence bundle (bad magic)');
  const version = new DataView(bundleBytes.buffer, bundleBytes.byteOffset + 15, 4).getUint32(0, true);
  if (version !== 2) fail(`bundle: format version ${version}, this page reads version 2`);
  const r = new Reader(bundleBytes.subarray(19), 'bundle');
  const lot = r.str();
  const note = r.str();
  const rawEntries = r.seq((r) => ({ bytes: r.bytes(), proof: r.seq((r) => r.digest()) }));
  const completeness = {
    last: r.bytes(),
    lastProof: r.seq((r) => r.digest()),
    subjects: r.seq((r) => {
      const kind = r.u32();
      if (kind > 1) fail('bundle: completeness subject kind');
      const subject = `${kind === 0 ? 'p' : 'l'}:${r.str()}`;
      const count = r.u64();
      const chain = r.digest();
      const siblings = r.seq((r) => r.digest());
      const t = r.u32();
      if (t > 1) fail('bundle: completeness terminal kind');
      const terminal = t === 1 ? { key: r.digest(), value: r.digest() } : null;
      return { subject, count, chain, proof: { siblings, terminal } };
    }),
  };
  r.done();
  if (claims && lot !== claims.lot) fail(`bundle: it is evidence for lot ${lot}, the page shows ${claims.lot}`);
  steps.push(`bundle for lot ${lot} decoded: ${rawEntries.length} entries`);

  const vkey = parseVkey(vkeyText);
  const cp = openCheckpoint(note, vkey);
  steps.push(`checkpoint of ${cp.size} entries signed by the operator key ${vkeyText.split('+')[1]}`);

  let previous = -1n;
  const entries = rawEntries.map((raw, i) => {
    const e = decodeEntry(raw.bytes, `entry ${i}`);
    if (!inclusionHolds(leafHash(raw.bytes), e.seq, cp.size, raw.proof, cp.root)) {
      fail(`entry #${e.seq}: its inclusion proof does not lead to the checkpoint's root (the entry or its proof was changed)`);
    }
    if (i === 0 ? e.seq !== 0n : e.seq <= previous) fail(`entry #${e.seq}: entries are not in increasing log order from #0`);
    previous = e.seq;
    return e;
  });
  const last = decodeEntry(completeness.last, 'completeness entry');
  if (last.seq !== cp.size - 1n || !inclusionHolds(leafHash(completeness.last), last.seq, cp.size, completeness.lastProof, cp.root)) {
    fail('completeness: the last entry is not proved at the checkpoint size');
  }
  steps.push(`${entries.length + 1} inclusion proofs (RFC 6962) lead to the signed root`);

  // Signatures, and the keys enrolled for each actor as of each entry.
  const origin = enc.encode(cp.origin);
  const keys = new Map();
  const countries = new Map();
  const byId = new Map();
  for (const e of entries) {
    const message = concat(STATEMENT_TAG, Uint8Array.of(origin.length >> 8, origin.length & 0xff), origin, e.idBytes);
    if (!signatureValid(e.signature, message, e.signer)) fail(`entry #${e.seq} (${e.event.kind} by ${e.event.actor}): the statement signature does not verify`);
    const ev = e.event;
    const signer = hex(e.signer);
    const own = keys.get(ev.actor) ?? new Set();
    const genesis = e.seq === 0n && ev.kind === 'enroll' && ev.party === ev.actor && ev.keys.includes(signer);
    if (!genesis && !own.has(signer)) fail(`entry #${e.seq}: signed by a key not enrolled for ${ev.actor}`);
    if (ev.kind === 'enroll') {
      keys.set(ev.party, new Set(ev.keys));
      countries.set(ev.party, ev.country);
    }
    if (ev.kind === 'amend') countries.set(ev.party, ev.country);
    if (ev.kind === 'add-key') keys.get(ev.party)?.add(ev.key);
    if (ev.kind === 'revoke') keys.get(ev.party)?.delete(ev.key);
    if (byId.has(e.id)) fail(`entry #${e.seq}: the same event twice`);
    byId.set(e.id, { ...e, country: countries.get(ev.actor) });
  }
  steps.push(`${entries.length} statement signatures verify (Ed25519, docs/format.md §3.1), each by a key enrolled for its actor`);

  // Hash links and quantities: each receipt (a creation or a receive) gives at most what it holds.
  const receiptOf = (link, lotId, actor, what) => {
    const up = byId.get(link) ?? fail(`${what}: links to event ${link.slice(0, 16)}…, which is not in the bundle`);
    const held = up.event.kind === 'receive' ? up.event.lots.find((l) => l.lot === lotId)?.quantity : (up.event.outputs ?? []).find((o) => o.lot === lotId)?.quantity;
    if (!held) fail(`${what}: links to entry #${up.seq}, which neither creates nor receives ${lotId}`);
    if (up.event.actor !== actor) fail(`${what}: links to entry #${up.seq}, a receipt of ${up.event.actor}, not of ${actor}`);
    return { up, held };
  };
  const drawn = new Map();
  let links = 0;
  for (const e of entries) {
    const ev = e.event;
    const moves = ev.kind === 'ship' ? ev.lots : ev.kind === 'transform' ? ev.inputs : [];
    moves.forEach((m, i) => {
      const what = `entry #${e.seq} (${ev.kind} by ${ev.actor}) ${ev.kind === 'ship' ? 'lots' : 'inputs'}[${i}]`;
      const { up, held } = receiptOf(m.from, m.lot, ev.actor, what);
      if (held.unit !== m.quantity.unit) fail(`${what}.quantity: in ${m.quantity.unit}, the receipt at #${up.seq} is in ${held.unit}`);
      const key = `${m.from}/${m.lot}`;
      const total = (drawn.get(key) ?? 0n) + m.quantity.amount;
      if (total > held.amount) fail(`${what}.quantity: draws ${total} ${held.unit} in all from the receipt at #${up.seq}, which holds ${held.amount}`);
      if (ev.time < up.event.time) fail(`${what}: earlier than the event it links to (#${up.seq})`);
      drawn.set(key, total);
      links++;
    });
    if (ev.kind === 'receive') {
      const ship = byId.get(ev.shipment) ?? fail(`entry #${e.seq} (receive by ${ev.actor}) shipment: not in the bundle`);
      if (ship.event.kind !== 'ship' || ship.event.to !== ev.actor) fail(`entry #${e.seq} shipment: entry #${ship.seq} is not a shipment to ${ev.actor}`);
      ev.lots.forEach((l, i) => {
        const sent = ship.event.lots.filter((s) => s.lot === l.lot).reduce((n, s) => n + s.quantity.amount, 0n);
        if (l.quantity.amount > sent) fail(`entry #${e.seq} (receive by ${ev.actor}) lots[${i}].quantity: ${amount(l.quantity)} received, ${sent} shipped`);
      });
      links++;
    }
  }
  steps.push(`${links} hash links resolve within the bundle, and no receipt gives more than it holds`);

  // Completeness: every subject proved against the last entry's subject root, and the chain
  // of the bundle's own entries about it equal to the proved state.
  const chains = new Map();
  for (const e of entries) {
    for (const s of subjectsOf(e.event)) {
      const c = chains.get(s) ?? { count: 0n, chain: new Uint8Array(32) };
      chains.set(s, { count: c.count + 1n, chain: sha256(concat(tag('subject-chain'), c.chain, u64le(e.seq), e.idBytes)) });
    }
  }
  const proved = new Map();
  for (const s of completeness.subjects) {
    if (s.count === 0n && !s.chain.every((b) => b === 0)) fail(`completeness: ${s.subject.slice(2)} has no entry but a chain`);
    if (proved.has(s.subject)) fail(`completeness: ${s.subject.slice(2)} is proved twice`);
    const value = s.count === 0n ? null : sha256(concat(tag('subject-value'), u64le(s.count), s.chain));
    if (!subjectProofHolds(s.proof, last.subjects, subjectKey(s.subject), value)) fail(`completeness: the proof for ${s.subject.slice(2)} does not hold`);
    proved.set(s.subject, s);
  }
  // What the Rust verifier requires (docs/format.md §8, step 7): every subject of an entry,
  // every actor, and as lots the product and every lot an event of its provenance DAG names
  // (walked back from its creation over the hash links); and every subject listed.
  const creating = entries.find((e) => (e.event.outputs ?? []).some((o) => o.lot === lot)) ?? fail(`product: no entry creates ${lot}`);
  const required = new Set([...chains.keys(), ...proved.keys(), `l:${lot}`]);
  for (const e of entries) required.add(`p:${e.event.actor}`);
  const dag = new Set();
  const walkDag = (e) => {
    if (!e || dag.has(e.id)) return;
    dag.add(e.id);
    const ev = e.event;
    const moves = ev.kind === 'ship' ? ev.lots : ev.kind === 'transform' ? ev.inputs : [];
    for (const o of ev.outputs ?? []) required.add(`l:${o.lot}`);
    for (const m of moves) {
      required.add(`l:${m.lot}`);
      walkDag(byId.get(m.from));
    }
    if (ev.kind === 'receive') {
      for (const l of ev.lots) required.add(`l:${l.lot}`);
      walkDag(byId.get(ev.shipment));
    }
  };
  walkDag(creating);
  for (const s of required) {
    const p = proved.get(s) ?? fail(`completeness: no proof for ${s.slice(2)}`);
    const mine = chains.get(s) ?? { count: 0n, chain: new Uint8Array(32) };
    if (p.count !== mine.count || !equal(p.chain, mine.chain)) {
      fail(`completeness: the log holds ${p.count} entries about ${s.slice(2)}, the bundle ${mine.count}: an entry about it is left out`);
    }
  }
  steps.push(`complete: the bundle holds every entry about the ${required.size} parties and lots it concerns (${dag.size} events on the way)`);

  if (!claims) return steps;
  // The page's claims: the product as created, and its countries of origin.
  if (creating.id !== claims.created_by) fail(`product: created by event ${creating.id.slice(0, 16)}…, the page says ${claims.created_by.slice(0, 16)}…`);
  const out = creating.event.outputs.find((o) => o.lot === lot);
  const shown = (v) => (v === null || v === undefined ? null : String(v));
  const pieces = out.quantity.unit === 'pieces';
  const created = String(out.quantity.amount);
  if (pieces !== (claims.unit === 'pcs') || (pieces && created !== claims.quantity)) {
    fail(`product quantity: ${amount(out.quantity)} signed, the page shows ${claims.quantity} ${claims.unit}`);
  }
  if (shown(out.capacity_wh) !== shown(claims.capacity_wh)) fail(`product capacity: ${out.capacity_wh} Wh signed, the page shows ${claims.capacity_wh}`);
  if (shown(out.unit_mass_mg) !== shown(claims.unit_mass_mg)) fail(`product weight: ${out.unit_mass_mg} mg signed, the page shows ${claims.unit_mass_mg}`);
  for (const [c, v] of Object.entries(claims.content)) {
    if (shown(out.content[c]) !== shown(v)) fail(`product content ${c}: ${out.content[c]} signed, the page shows ${v}`);
  }
  steps.push(`the product as shown (${created} ${pieces ? 'pieces' : 'g'}, capacity, weight, content) is what its manufacturer signed`);

  // Walk upstream from the product, per component, to the mines and recyclers it reaches.
  const creatorOf = new Map();
  for (const e of entries) for (const o of e.event.outputs ?? []) creatorOf.set(o.lot, e);
  const origins = (component) => {
    const found = new Set();
    const seen = new Set();
    const walk = (e) => {
      if (seen.has(e.id)) return;
      seen.add(e.id);
      const ev = e.event;
      if (ev.kind === 'extract') found.add(ev.site.country);
      else if (ev.kind === 'recycle') found.add(e.country);
      const moves = ev.kind === 'ship' ? ev.lots : ev.kind === 'transform' ? ev.inputs : [];
      for (const m of moves) {
        // Only lots that carry the component bring it (as the Rust trace's shares do).
        const holds = (creatorOf.get(m.lot)?.event.outputs ?? []).find((o) => o.lot === m.lot)?.content ?? {};
        if (component in holds) walk(byId.get(m.from));
      }
      if (ev.kind === 'receive') walk(byId.get(ev.shipment));
    };
    walk(creating);
    return [...found].sort();
  };
  for (const [c, countriesShown] of Object.entries(claims.countries)) {
    const got = origins(c);
    if (got.join(',') !== [...countriesShown].sort().join(',')) fail(`countries of origin of ${c}: the signed chain reaches ${got.join(', ') || 'none'}, the page shows ${countriesShown.join(', ')}`);
  }
  steps.push(`the countries of origin shown for ${Object.keys(claims.countries).join(', ')} are the ones the signed chain reaches`);
  return steps;
};
