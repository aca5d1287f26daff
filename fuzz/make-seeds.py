#!/usr/bin/env python3
"""Regenerates fuzz/seeds/ from the demo ledger (`custody demo`) and the golden fixtures.

Run from anywhere after `cargo build -p ledger-cli`; needs python3 with `cryptography`
(only for the signed-note seed). The seeds are committed; this script is how they were made.
"""
import base64, hashlib, json, os, shutil, struct, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CUSTODY = os.path.join(ROOT, "target", "debug", "custody")
SEEDS = os.path.join(HERE, "seeds")


def put(target, name, data):
    os.makedirs(os.path.join(SEEDS, target), exist_ok=True)
    with open(os.path.join(SEEDS, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = os.path.join(tmp, "ledger")
        subprocess.run([CUSTODY, "demo", "--dir", ledger], check=True, stdout=subprocess.DEVNULL)
        entries = []
        seq = 0
        while True:
            out = subprocess.run([CUSTODY, "--ledger", ledger, "show", "--seq", str(seq), "--json"],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                break
            entries.append(json.loads(out.stdout))
            seq += 1
    # One entry and one statement of each event kind.
    seen = set()
    for e in entries:
        kind = next(iter(e["statement"]["event"]["body"]))
        if kind in seen:
            continue
        seen.add(kind)
        put("entry_codec", f"{kind}.bin", bytes.fromhex(e["entry_hex"]))
        put("statement_json", f"{kind}.json", json.dumps(e["statement"]))
    # The whole demo log, length-prefixed, for the replay target.
    log = b"".join(struct.pack("<I", len(b)) + b for b in (bytes.fromhex(e["entry_hex"]) for e in entries))
    put("replay", "demo-log.bin", b"\x00" + log)
    put("replay", "demo-log-signatures-assumed.bin", b"\x01" + log)
    # Supplier JSON: the demo scenario and the golden inputs.
    with open(os.path.join(ROOT, "fixtures", "demo", "scenario.jsonl")) as f:
        for i, line in enumerate(l for l in f if l.strip()):
            put("event_json", f"scenario-{i:02}.json", line)
    golden = os.path.join(ROOT, "fixtures", "golden")
    for name in sorted(os.listdir(golden)):
        if name.startswith("valid_event_"):
            with open(os.path.join(golden, name)) as f:
                put("event_json", name, json.dumps(json.load(f)["input"]))
    # Notes: a checkpoint, the same signed by the fuzz target's fixed key, and its vkey.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization
    name = "fuzz.example/log"
    key = Ed25519PrivateKey.from_private_bytes(bytes([7] * 32))
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(name.encode() + b"\n" + b"\x01" + pub).digest()[:4]
    root = base64.b64encode(hashlib.sha256(b"root").digest()).decode()
    text = f"{name}\n{len(entries)}\n{root}\n"
    sig = base64.b64encode(key_id + key.sign(text.encode())).decode()
    note = f"{text}\n\u2014 {name} {sig}\n"
    put("note", "checkpoint.txt", b"\x01" + text.encode())
    put("note", "signed-note.txt", b"\x00" + note.encode())
    vkey = f"{name}+{key_id.hex()}+" + base64.b64encode(b"\x01" + pub).decode()
    put("note", "vkey.txt", b"\x02" + vkey.encode())
    print(f"seeds written to {SEEDS} from {len(entries)} demo entries")


if __name__ == "__main__":
    sys.exit(main())
