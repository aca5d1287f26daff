//! Signing supplier events: JSON in, signed statements out, with the links and units a
//! supplier leaves out filled from the ledger and from the events earlier in the same input.

use std::collections::HashMap;

use ledger_core::event::{Body, Event};
use ledger_core::hash::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::input::{MAX_EVENT_JSON, SignContext, parse_event, parse_events};
use ledger_core::keys::SecretKey;
use ledger_core::quantity::Unit;
use ledger_core::state::StateView;
use ledger_core::statement::Statement;
use ledger_core::validate::FieldError;
use ledger_store::Store;

use crate::Ledger;
use crate::error::{Error, Result};

/// What signing knows: the ledger's state (if there is one) plus the events signed earlier
/// in the same input.
pub struct SigningContext<'a> {
    state: Option<&'a dyn StateView>,
    units: HashMap<LotId, Unit>,
    sources: HashMap<(LotId, PartyId), Digest>,
    shipments: Vec<(Digest, PartyId, Vec<LotId>)>,
}

impl<S: Store> Ledger<S> {
    /// A signing context over this ledger's state.
    pub fn signing_context(&self) -> SigningContext<'_> {
        SigningContext::new(Some(self.store()))
    }
}

impl<'a> SigningContext<'a> {
    /// A context over `state`, or over nothing: every link must then be in the JSON or
    /// earlier in the same input.
    pub fn new(state: Option<&'a dyn StateView>) -> SigningContext<'a> {
        SigningContext {
            state,
            units: HashMap::new(),
            sources: HashMap::new(),
            shipments: Vec::new(),
        }
    }

    /// Learns what a signed event creates, receives and ships.
    pub fn learn(&mut self, id: Digest, event: &Event) {
        for output in event.body.outputs() {
            self.units
                .insert(output.lot.clone(), output.quantity.unit());
            self.sources
                .insert((output.lot.clone(), event.actor.clone()), id);
        }
        match &event.body {
            Body::Ship(s) => self.shipments.push((
                id,
                s.to.clone(),
                s.lots.iter().map(|m| m.lot.clone()).collect(),
            )),
            Body::Receive(r) => {
                self.shipments.retain(|(ship, _, _)| *ship != r.shipment);
                for item in &r.lots {
                    self.sources
                        .insert((item.lot.clone(), event.actor.clone()), id);
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
            let event = parse_event(value, self, nonce).map_err(|e| {
                FieldError::new(format!("event {}: {}", index + 1, e.path), e.reason)
            })?;
            let signed = key_for(&event.actor).and_then(|key| {
                Statement::sign(event, key)
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
    fn lot_unit(&self, lot: &LotId) -> Option<Unit> {
        self.units.get(lot).copied().or_else(|| {
            self.state
                .and_then(|s| s.lot(lot).ok().flatten())
                .map(|l| l.unit)
        })
    }

    fn custody_source(&self, lot: &LotId, holder: &PartyId) -> Option<Digest> {
        self.sources
            .get(&(lot.clone(), holder.clone()))
            .copied()
            .or_else(|| {
                self.state
                    .and_then(|s| s.holding(lot, holder).ok().flatten())
                    .map(|h| h.source)
            })
    }

    fn open_shipment(&self, receiver: &PartyId, lots: &[LotId]) -> Option<Digest> {
        let mut matching = self
            .shipments
            .iter()
            .filter(|(_, to, carried)| to == receiver && lots.iter().all(|l| carried.contains(l)));
        match (matching.next(), matching.next()) {
            (Some((id, _, _)), None) => Some(*id),
            _ => None,
        }
    }
}
