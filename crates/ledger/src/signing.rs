//! Signing supplier events: JSON in, signed statements out, with the links and units a
//! supplier leaves out filled from the ledger and from the events earlier in the same input.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use ledger_core::event::{Body, Event};
use ledger_core::finding::Rule;
use ledger_core::hash::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::input::{MAX_EVENT_JSON, SignContext, parse_event, parse_events};
use ledger_core::keys::SecretKey;
use ledger_core::quantity::Unit;
use ledger_core::rules::{allowed_roles, authority};
use ledger_core::state::{Holding, LotRecord, Receipt};
use ledger_core::statement::{Origin, Statement};
use ledger_core::validate::FieldError;
use ledger_store::Store;

use crate::error::{Error, Result};
use crate::{Ledger, decode_entry};

/// What signing reads from a ledger: a lot, what a party holds of it, and the shipments
/// still open to a party; nothing else. [`Ledger`] reads them from its store and the store's
/// lot index; `custody sign --server` reads the same three from a server, which answers each
/// with this implementation, so the links are filled by one engine either way.
pub trait SigningSource {
    /// The lot `lot` as created, if the ledger has it (signing needs its unit).
    fn lot(&self, lot: &LotId) -> Result<Option<LotRecord>>;
    /// What `holder` holds of `lot`: its receipts in log order, with what is left of each.
    fn holding(&self, lot: &LotId, holder: &PartyId) -> Result<Option<Holding>>;
    /// The shipments in the ledger addressed to `receiver`, not yet received, that carry
    /// every lot of `lots`, in log order.
    fn open_shipments(&self, receiver: &PartyId, lots: &[LotId]) -> Result<Vec<Digest>>;
}

impl<S: Store> SigningSource for Ledger<S> {
    fn lot(&self, lot: &LotId) -> Result<Option<LotRecord>> {
        Ok(self.store().lot(lot)?)
    }

    fn holding(&self, lot: &LotId, holder: &PartyId) -> Result<Option<Holding>> {
        Ok(self.store().holding(lot, holder)?)
    }

    fn open_shipments(&self, receiver: &PartyId, lots: &[LotId]) -> Result<Vec<Digest>> {
        Ledger::open_shipments(self, receiver, lots)
    }
}

/// What signing knows: the ledger (if there is one) plus the events signed earlier in the
/// same input.
pub struct SigningContext<'a> {
    ledger: Option<&'a dyn SigningSource>,
    /// The origin of the ledger the statements are signed for: their signatures cover it.
    origin: Origin,
    units: HashMap<LotId, Unit>,
    /// Holdings as the events signed so far in this input leave them, for every (lot,
    /// party) those events touched; the rest are read from the ledger.
    holdings: HashMap<(LotId, PartyId), Holding>,
    /// Shipments signed in this input and not received in it: id, receiver, lots.
    shipments: Vec<(Digest, PartyId, Vec<LotId>)>,
    /// Shipments received in this input, whether the `ship` is in the ledger or not.
    received: HashSet<Digest>,
    /// The first failure to read the ledger: signing stops with it rather than with the
    /// missing link it caused.
    failure: RefCell<Option<Error>>,
}

impl<S: Store> Ledger<S> {
    /// A signing context over this ledger.
    pub fn signing_context(&self) -> SigningContext<'_> {
        SigningContext::new(Some(self), self.signing_origin().clone())
    }

    /// The shipments addressed to `receiver`, not yet received, that carry every lot of
    /// `lots`, in log order: what a `receive` without `shipment` may be linked to.
    ///
    /// It reads only the entries that name one of the lots (the lot index of the lot named
    /// by the fewest), never the whole log.
    pub fn open_shipments(&self, receiver: &PartyId, lots: &[LotId]) -> Result<Vec<Digest>> {
        let mut positions: Option<Vec<u64>> = None;
        for lot in lots {
            let named = self.store().lot_events(lot)?;
            if positions
                .as_ref()
                .is_none_or(|fewest| named.len() < fewest.len())
            {
                positions = Some(named);
            }
        }
        let mut found = Vec::new();
        for seq in positions.unwrap_or_default() {
            let bytes = self.store().entry(seq)?.ok_or_else(|| {
                Error::damaged(format!(
                    "the lot index names entry #{seq}, which is not in the log"
                ))
            })?;
            let (entry, id) = decode_entry(seq, &bytes)?;
            let Body::Ship(ship) = &entry.statement.event.body else {
                continue;
            };
            if ship.to != *receiver || found.contains(&id) {
                continue;
            }
            let record = self.store().shipment(&id)?.ok_or_else(|| {
                Error::damaged(format!("shipment {id} at #{seq} has no shipment record"))
            })?;
            let carries_all = lots
                .iter()
                .all(|lot| record.lots.iter().any(|(carried, _)| carried == lot));
            if record.received_by.is_none() && carries_all {
                found.push(id);
            }
        }
        Ok(found)
    }

    /// What the authority rule ([`ledger_core::rules::authority`]) would find if `statement`
    /// were appended next: whether its signer is an enrolled, unrevoked key of its actor,
    /// and whether the actor's roles allow its kind. Empty when `append` would accept the
    /// signer. `sign` warns with these before a statement reaches `append`.
    pub fn signer_findings(&self, statement: &Statement) -> Result<Vec<(Rule, String)>> {
        let event = &statement.event;
        let kind = event.body.kind();
        let next = self.store().head()?.size;
        Ok(authority(
            self.store(),
            &event.actor,
            &statement.signer,
            next,
            allowed_roles(kind),
            kind.name(),
        )?)
    }
}

impl<'a> SigningContext<'a> {
    /// A context over `ledger`, or over nothing (offline signing): every link must then be
    /// in the JSON or earlier in the same input.
    ///
    /// `origin` is the origin of the ledger the statements will be appended to: every
    /// signature covers it, so a statement signed for one ledger is refused by another.
    pub fn new(ledger: Option<&'a dyn SigningSource>, origin: Origin) -> SigningContext<'a> {
        SigningContext {
            ledger,
            origin,
            units: HashMap::new(),
            holdings: HashMap::new(),
            shipments: Vec::new(),
            received: HashSet::new(),
            failure: RefCell::new(None),
        }
    }

    /// `Some` of a ledger read that worked; a failed one is kept, to be reported.
    fn noted<T>(&self, read: Result<T>) -> Option<T> {
        match read {
            Ok(value) => Some(value),
            Err(e) => {
                self.failure.borrow_mut().get_or_insert(e);
                None
            }
        }
    }

    /// What `holder` holds of `lot`: as this input left it, or as the ledger has it.
    fn current_holding(&self, lot: &LotId, holder: &PartyId) -> Option<Holding> {
        if let Some(holding) = self.holdings.get(&(lot.clone(), holder.clone())) {
            return Some(holding.clone());
        }
        let ledger = self.ledger?;
        self.noted(ledger.holding(lot, holder)).flatten()
    }

    /// The holding of (`lot`, `holder`) to update for an event signed in this input.
    fn holding_mut(&mut self, lot: &LotId, holder: &PartyId) -> &mut Holding {
        let key = (lot.clone(), holder.clone());
        if !self.holdings.contains_key(&key) {
            let current = self.current_holding(lot, holder).unwrap_or_default();
            self.holdings.insert(key.clone(), current);
        }
        self.holdings.entry(key).or_default()
    }

    /// Learns what a signed event creates, receives, consumes and ships.
    pub fn learn(&mut self, id: Digest, event: &Event) {
        for m in event.body.consumed() {
            let holding = self.holding_mut(&m.lot, &event.actor);
            if let Some(receipt) = holding.receipt_mut(&m.from) {
                receipt.balance = receipt.balance.saturating_sub(m.quantity.amount());
            }
        }
        for output in event.body.outputs() {
            self.units
                .insert(output.lot.clone(), output.quantity.unit());
            self.holding_mut(&output.lot, &event.actor)
                .receipts
                .push(Receipt {
                    source: id,
                    balance: output.quantity.amount(),
                });
        }
        match &event.body {
            Body::Ship(s) => self.shipments.push((
                id,
                s.to.clone(),
                s.lots.iter().map(|m| m.lot.clone()).collect(),
            )),
            Body::Receive(r) => {
                self.shipments.retain(|(ship, _, _)| *ship != r.shipment);
                self.received.insert(r.shipment);
                for item in &r.lots {
                    self.holding_mut(&item.lot, &event.actor)
                        .receipts
                        .push(Receipt {
                            source: id,
                            balance: item.quantity.amount(),
                        });
                }
            }
            _ => {}
        }
    }

    /// Signs every event in `text` (one JSON object, an array, or one object per line)
    /// with the key `key_for` picks for its actor, filling links from this context, which
    /// learns from each event before the next. Events without a nonce get one from
    /// `nonce`. `source` names the input in errors.
    pub fn sign_text<'k>(
        &mut self,
        text: &str,
        source: &str,
        key_for: &dyn Fn(&PartyId) -> Result<&'k SecretKey>,
        nonce: &mut dyn FnMut() -> u64,
    ) -> Result<Vec<Statement>> {
        let mut out = Vec::new();
        let mut failure: Option<Error> = None;
        let result = parse_events(text, &mut |value, index| {
            let size = value.to_string().len();
            if size > MAX_EVENT_JSON {
                return Err(FieldError::new(
                    "(event)",
                    format!("{size} bytes exceed the limit of {MAX_EVENT_JSON}"),
                ));
            }
            let parsed = parse_event(value, self, nonce);
            if let Some(e) = self.failure.get_mut().take() {
                // The ledger could not be read: no link filled from it can be trusted.
                failure = Some(e);
                return Err(FieldError::new(
                    format!("event {}", index + 1),
                    "cannot be signed",
                ));
            }
            let event = parsed.map_err(|e| {
                FieldError::new(format!("event {}: {}", index + 1, e.path), e.reason)
            })?;
            let signed = key_for(&event.actor).and_then(|key| {
                Statement::sign(event, &self.origin, key)
                    .map_err(|e| Error::BadInput(format!("cannot encode the event: {e}")))
            });
            match signed.and_then(|s| {
                let id = s
                    .id()
                    .map_err(|e| Error::BadInput(format!("cannot encode the event: {e}")))?;
                Ok((id, s))
            }) {
                Ok((id, statement)) => {
                    self.learn(id, &statement.event);
                    out.push(statement);
                    Ok(())
                }
                Err(e) => {
                    failure = Some(e);
                    Err(FieldError::new(
                        format!("event {}", index + 1),
                        "cannot be signed",
                    ))
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        result.map_err(|e| Error::BadInput(format!("{source}: invalid event: {e}")))?;
        Ok(out)
    }
}

impl SignContext for SigningContext<'_> {
    fn has_ledger(&self) -> bool {
        self.ledger.is_some()
    }

    fn lot_unit(&self, lot: &LotId) -> Option<Unit> {
        self.units.get(lot).copied().or_else(|| {
            let ledger = self.ledger?;
            self.noted(ledger.lot(lot)).flatten().map(|l| l.unit)
        })
    }

    fn holding(&self, lot: &LotId, holder: &PartyId) -> Option<Holding> {
        self.current_holding(lot, holder)
    }

    fn open_shipments(&self, receiver: &PartyId, lots: &[LotId]) -> Vec<Digest> {
        // The ledger's first (log order), then this input's; a shipment signed here and
        // appended since is in both.
        let mut found: Vec<Digest> = match self.ledger {
            Some(ledger) => self
                .noted(ledger.open_shipments(receiver, lots))
                .unwrap_or_default()
                .into_iter()
                .filter(|id| !self.received.contains(id))
                .collect(),
            None => Vec::new(),
        };
        for (id, to, carried) in &self.shipments {
            if to == receiver && lots.iter().all(|l| carried.contains(l)) && !found.contains(id) {
                found.push(*id);
            }
        }
        found
    }
}
