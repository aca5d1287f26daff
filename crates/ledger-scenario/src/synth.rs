//! A deterministic generator of realistic synthetic ledgers for benchmarks: many mines
//! (some artisanal, their ore going through traders), refiners blending many ore lots into
//! hydroxide, cathode makers blending hydroxide with recycled sulfate, cell makers and
//! module assemblers, with an auditor's attestations. Every event satisfies every rule, so
//! `append` accepts the whole stream.
//!
//! Each module is the root of a tree of about 13,000 upstream events (4,096 ore lots), so
//! `verify --lot` and `trace` of a module exercise a large provenance DAG.

use std::collections::HashMap;

use ledger_core::codec;
use ledger_core::event::{
    Attest, Body, Claim, Enroll, Event, Extract, Feedstock, LotMove, LotOutput, Method, Outcome,
    Receive, Received, Recycle, Role, Ship, Site, Subject, Transform,
};
use ledger_core::hash::Digest;
use ledger_core::id::{Component, Country, LotId, Material, PartyId, SiteId};
use ledger_core::keys::SecretKey;
use ledger_core::quantity::{Content, Quantity};
use ledger_core::statement::{Origin, Statement, event_id};
use ledger_core::timestamp::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::Result;
use crate::demo::test_key;

/// Ore lots blended into one hydroxide lot.
const ORES_PER_HYDROXIDE: usize = 16;
/// Hydroxide lots (plus one recycled lot) per cathode lot.
const HYDROXIDES_PER_CATHODE: usize = 8;
/// Cathode lots per cell lot.
const CATHODES_PER_CELLS: usize = 4;
/// Cell lots per module lot.
const CELLS_PER_MODULE: usize = 8;

/// An unsigned event and who signs it.
struct Pending {
    event: Event,
    signer: usize,
}

/// The generator's state: parties, keys, the clock and the events so far.
pub struct Synth {
    rng: StdRng,
    keys: Vec<SecretKey>,
    ids: Vec<PartyId>,
    by_role: HashMap<&'static str, Vec<usize>>,
    clock: i64,
    counter: u64,
    pending: Vec<Pending>,
    /// The module lots generated so far.
    pub modules: Vec<LotId>,
    co: Component,
}

/// What a created lot is, for the next step.
struct Made {
    lot: LotId,
    quantity: Quantity,
    holder: usize,
    source: Digest,
}

fn id(s: &str) -> Result<PartyId> {
    Ok(PartyId::new(s)?)
}

impl Synth {
    /// A generator seeded with `seed`; the operator is party 0.
    pub fn new(seed: u64) -> Result<Synth> {
        let mut s = Synth {
            rng: StdRng::seed_from_u64(seed),
            keys: Vec::new(),
            ids: Vec::new(),
            by_role: HashMap::new(),
            clock: Timestamp::parse("2020-01-01T00:00:00Z")?.unix(),
            counter: 0,
            pending: Vec::new(),
            modules: Vec::new(),
            co: Component::parse("Co")?,
        };
        s.party("operator", "operator")?;
        for (role, count) in [
            ("miner", 200),
            ("trader", 10),
            ("refiner", 8),
            ("cathode", 4),
            ("cells", 4),
            ("modules", 2),
            ("recycler", 3),
            ("auditor", 1),
        ] {
            for i in 0..count {
                s.party(role, &format!("synth-{role}-{i:03}"))?;
            }
        }
        Ok(s)
    }

    fn party(&mut self, role: &'static str, name: &str) -> Result<()> {
        self.keys.push(test_key(name));
        self.ids.push(id(name)?);
        self.by_role
            .entry(role)
            .or_default()
            .push(self.ids.len() - 1);
        Ok(())
    }

    fn pick(&mut self, role: &str) -> usize {
        let len = self.by_role[role].len();
        let i = self.rng.gen_range(0..len);
        self.by_role[role][i]
    }

    fn push(&mut self, actor: usize, body: Body, emissions_kg: u64) -> Result<Digest> {
        self.clock += 1;
        self.counter += 1;
        let event = Event {
            actor: self.ids[actor].clone(),
            time: Timestamp::from_unix(self.clock)?,
            nonce: self.counter,
            emissions_g_co2e: Some(emissions_kg * 1000),
            documents: Vec::new(),
            body,
        };
        let id = event_id(&codec::encode(&event)?);
        self.pending.push(Pending {
            event,
            signer: actor,
        });
        Ok(id)
    }

    /// Enrollments of every party and an auditor's attestations for every supplier.
    /// The genesis (operator) entry is the ledger's own.
    pub fn setup(&mut self) -> Result<()> {
        let roles = |r: &str| match r {
            "miner" => Role::Miner,
            "trader" => Role::Trader,
            "refiner" => Role::Refiner,
            "recycler" => Role::Recycler,
            "auditor" => Role::Auditor,
            _ => Role::Manufacturer,
        };
        let mut enrolls = Vec::new();
        for (role, members) in &self.by_role {
            if *role == "operator" {
                continue;
            }
            for &m in members {
                enrolls.push((m, roles(role)));
            }
        }
        enrolls.sort();
        for (m, role) in enrolls {
            let body = Body::Enroll(Enroll {
                party: self.ids[m].clone(),
                name: format!("{} (synthetic)", self.ids[m]),
                country: Country::parse(if role == Role::Miner { "CD" } else { "FI" })?,
                roles: vec![role],
                keys: vec![self.keys[m].public_key()],
            });
            self.push(0, body, 0)?;
        }
        let auditor = self.by_role["auditor"][0];
        let suppliers: Vec<usize> = (1..self.ids.len()).filter(|&p| p != auditor).collect();
        for p in suppliers {
            for claim in [Claim::CodeOfConduct, Claim::Saq, Claim::OnsiteAudit] {
                let body = Body::Attest(Attest {
                    subject: Subject::Party(self.ids[p].clone()),
                    claim,
                    result: (claim != Claim::CodeOfConduct).then_some(Outcome::Pass),
                    score: None,
                    reference: None,
                    severity: None,
                    valid_until: None,
                });
                self.push(auditor, body, 0)?;
            }
        }
        Ok(())
    }

    fn lot(&mut self, prefix: &str) -> Result<LotId> {
        Ok(LotId::new(format!("{prefix}-{:08}", self.counter + 1))?)
    }

    fn output(
        &self,
        lot: &LotId,
        material: &str,
        quantity: Quantity,
        ppm_or_mg: u64,
    ) -> Result<LotOutput> {
        let content: Content = [(self.co.clone(), ppm_or_mg)].into_iter().collect();
        Ok(LotOutput {
            lot: lot.clone(),
            material: Material::new(material)?,
            quantity,
            content,
            capacity_wh: matches!(quantity, Quantity::Pieces(_))
                .then_some(if material == "module" { 60_000 } else { 300 }),
            // Synthetic pieces are all cobalt: a piece weighs its content.
            unit_mass_mg: matches!(quantity, Quantity::Pieces(_)).then_some(ppm_or_mg),
        })
    }

    /// Ships `made` to `to` and receives it in full; returns it in the receiver's hands.
    fn deliver(&mut self, made: Made, to: usize) -> Result<Made> {
        let ship = Body::Ship(Ship {
            to: self.ids[to].clone(),
            lots: vec![LotMove {
                lot: made.lot.clone(),
                quantity: made.quantity,
                from: made.source,
            }],
        });
        let ship_id = self.push(made.holder, ship, 50)?;
        let receive = Body::Receive(Receive {
            shipment: ship_id,
            lots: vec![Received {
                lot: made.lot.clone(),
                quantity: made.quantity,
            }],
        });
        let source = self.push(to, receive, 0)?;
        Ok(Made {
            holder: to,
            source,
            ..made
        })
    }

    /// Blends `inputs` (all held by `actor`) into one new lot.
    fn blend(
        &mut self,
        actor: usize,
        inputs: Vec<Made>,
        prefix: &str,
        material: &str,
        quantity: Quantity,
        content: u64,
    ) -> Result<Made> {
        let lot = self.lot(prefix)?;
        let output = self.output(&lot, material, quantity, content)?;
        let body = Body::Transform(Transform {
            inputs: inputs
                .iter()
                .map(|m| LotMove {
                    lot: m.lot.clone(),
                    quantity: m.quantity,
                    from: m.source,
                })
                .collect(),
            outputs: vec![output],
        });
        let source = self.push(actor, body, 2_000)?;
        Ok(Made {
            lot,
            quantity,
            holder: actor,
            source,
        })
    }

    /// One ore lot at a refiner: extract, and ship directly or (artisanal) via a trader.
    fn ore_at(&mut self, refiner: usize) -> Result<Made> {
        let miner = self.pick("miner");
        let artisanal = miner.is_multiple_of(10);
        let lot = self.lot("ORE")?;
        // 10 t of ore at 3.1 % cobalt.
        let quantity = Quantity::Grams(10_000_000);
        let site = Site {
            id: SiteId::new(format!("SITE-{miner:03}"))?,
            country: Country::parse("CD")?,
            lat_micro: -10_700_000 + i32::try_from(miner)? * 1000,
            lon_micro: 25_400_000,
            method: if artisanal {
                Method::Artisanal
            } else {
                Method::Industrial
            },
        };
        let body = Body::Extract(Extract {
            site,
            outputs: vec![self.output(&lot, "cobalt-ore", quantity, 31_000)?],
        });
        let source = self.push(miner, body, 300)?;
        let mut made = Made {
            lot,
            quantity,
            holder: miner,
            source,
        };
        if artisanal {
            let trader = self.pick("trader");
            made = self.deliver(made, trader)?;
        }
        self.deliver(made, refiner)
    }

    /// One complete module tree; stops early (without the module) once `limit` events are
    /// pending (made and not yet taken).
    pub fn module(&mut self, limit: usize) -> Result<bool> {
        let assembler = self.pick("modules");
        let mut cells = Vec::new();
        for _ in 0..CELLS_PER_MODULE {
            let cell_maker = self.pick("cells");
            let mut cathodes = Vec::new();
            for _ in 0..CATHODES_PER_CELLS {
                let cathode_maker = self.pick("cathode");
                let mut hydroxides = Vec::new();
                for _ in 0..HYDROXIDES_PER_CATHODE {
                    let refiner = self.pick("refiner");
                    let mut ores = Vec::new();
                    for _ in 0..ORES_PER_HYDROXIDE {
                        ores.push(self.ore_at(refiner)?);
                        if self.pending.len() >= limit {
                            return Ok(false);
                        }
                    }
                    // 16 × 310 kg Co = 4 960 kg → 10 t of hydroxide at 36 % = 3 600 kg.
                    let hydroxide = self.blend(
                        refiner,
                        ores,
                        "HYD",
                        "cobalt-hydroxide",
                        Quantity::Grams(10_000_000),
                        360_000,
                    )?;
                    hydroxides.push(self.deliver(hydroxide, cathode_maker)?);
                }
                let recycler = self.pick("recycler");
                let lot = self.lot("RSUL")?;
                // 5 t of recycled sulfate at 20 % = 1 000 kg Co.
                let quantity = Quantity::Grams(5_000_000);
                let body = Body::Recycle(Recycle {
                    feedstock: Feedstock::PostConsumer,
                    outputs: vec![self.output(&lot, "cobalt-sulfate", quantity, 200_000)?],
                });
                let source = self.push(recycler, body, 400)?;
                hydroxides.push(self.deliver(
                    Made {
                        lot,
                        quantity,
                        holder: recycler,
                        source,
                    },
                    cathode_maker,
                )?);
                // 8 × 3 600 + 1 000 = 29 800 kg Co in 85 t → 80 t of cathode at 30 % =
                // 24 000 kg (mass is conserved: outputs weigh no more than the inputs).
                let cathode = self.blend(
                    cathode_maker,
                    hydroxides,
                    "CAT",
                    "cathode",
                    Quantity::Grams(80_000_000),
                    300_000,
                )?;
                cathodes.push(self.deliver(cathode, cell_maker)?);
            }
            // 4 × 24 000 kg → 1 000 000 cells at 90 g Co = 90 000 kg.
            let cell = self.blend(
                cell_maker,
                cathodes,
                "CELL",
                "cell",
                Quantity::Pieces(1_000_000),
                90_000,
            )?;
            cells.push(self.deliver(cell, assembler)?);
        }
        // 8 000 000 cells × 90 g = 720 t Co → 40 000 modules at 18 kg.
        let module = self.blend(
            assembler,
            cells,
            "MOD",
            "module",
            Quantity::Pieces(40_000),
            18_000_000,
        )?;
        self.modules.push(module.lot);
        Ok(true)
    }

    /// The operator's key (party 0), for the ledger's genesis.
    pub fn operator_key(&self) -> &SecretKey {
        &self.keys[0]
    }

    /// The operator's party id.
    pub fn operator_id(&self) -> &PartyId {
        &self.ids[0]
    }
}

/// Events taken from the generator at a time when skipping.
const SKIP_WINDOW: usize = 65_536;

/// One synthetic ledger's `events` events (setup, then module trees), made as they are
/// taken: only the events not yet taken of the current module are held, so a stream of
/// 10^7 events needs no more memory than one of 10^4. The stream is the same however it
/// is taken (by any window sizes, skipped or signed): it depends on the seed alone.
pub struct Windows {
    synth: Synth,
    events: usize,
    taken: usize,
}

impl Windows {
    /// The stream of `events` events seeded with `seed`.
    pub fn new(seed: u64, events: usize) -> Result<Windows> {
        let mut synth = Synth::new(seed)?;
        synth.setup()?;
        Ok(Windows {
            synth,
            events,
            taken: 0,
        })
    }

    /// The stream position of the next event: how many were taken or skipped.
    pub fn taken(&self) -> usize {
        self.taken
    }

    /// Generates until the next `n` events (fewer at the stream's end) are made; returns
    /// how many that is.
    fn fill(&mut self, n: usize) -> Result<usize> {
        let left = self.events - self.taken;
        let want = n.min(left);
        while self.synth.pending.len() < want {
            // Stops early once `left` are made; a prefix of a valid stream is valid.
            self.synth.module(left)?;
        }
        Ok(want)
    }

    /// The next `n` events (fewer at the stream's end), signed for the ledger with
    /// `origin` in parallel.
    pub fn take(&mut self, origin: &Origin, n: usize) -> Result<Vec<Statement>> {
        let n = self.fill(n)?;
        let keys = &self.synth.keys;
        let signed = self.synth.pending[..n]
            .par_iter()
            .map(|p| Ok(Statement::sign(p.event.clone(), origin, &keys[p.signer])?))
            .collect::<Result<Vec<_>>>()?;
        self.synth.pending.drain(..n);
        self.taken += n;
        Ok(signed)
    }

    /// Makes and drops events, unsigned, until `position` (at most the stream's end) is next.
    pub fn skip_to(&mut self, position: usize) -> Result<()> {
        while self.taken < position.min(self.events) {
            let n = self.fill((position - self.taken).min(SKIP_WINDOW))?;
            self.synth.pending.drain(..n);
            self.taken += n;
        }
        Ok(())
    }

    /// The module lots made so far (the last may be cut off by the stream's end).
    pub fn modules(&self) -> &[LotId] {
        &self.synth.modules
    }

    /// The operator's key (party 0), for the ledger's genesis.
    pub fn operator_key(&self) -> &SecretKey {
        self.synth.operator_key()
    }

    /// The operator's party id.
    pub fn operator_id(&self) -> &PartyId {
        self.synth.operator_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "test.custody.example/log";

    fn ids(statements: &[Statement]) -> Vec<Digest> {
        statements
            .iter()
            .map(|s| s.id().unwrap_or(Digest::ZERO))
            .collect()
    }

    #[test]
    fn the_stream_is_the_same_however_it_is_taken() {
        let origin = Origin::new(ORIGIN).unwrap();
        let events = 15_000;
        let mut whole = Windows::new(7, events).unwrap();
        let all = ids(&whole.take(&origin, events + 1).unwrap());
        assert_eq!(all.len(), events);
        assert!(whole.take(&origin, 10).unwrap().is_empty());
        assert_eq!(whole.modules().len(), 1, "15,000 events hold one module");

        let mut windows = Windows::new(7, events).unwrap();
        let mut pieces = ids(&windows.take(&origin, 1).unwrap());
        windows.skip_to(9_000).unwrap();
        assert_eq!(windows.taken(), 9_000);
        pieces.extend(ids(&windows.take(&origin, 5_000).unwrap()));
        pieces.extend(ids(&windows.take(&origin, 5_000).unwrap()));
        assert_eq!(pieces[0], all[0]);
        assert_eq!(pieces[1..], all[9_000..]);
        assert_eq!(windows.modules(), whole.modules());
    }
}
