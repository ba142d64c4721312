//! Who asks for a change to a contact ([`Actor`], the ledger's `actor`) and what backs
//! the request up ([`Authority`]: proof, the person's own confirmation, evidence). The
//! rules (`rules.rs`, `grants.rs`, `processing.rs`, `suppression.rs`) decide from it.

use std::collections::BTreeMap;
use std::fmt;

/// Who is asking for a change. Its text form is the ledger's `actor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A staff member at the command line.
    Cli(String),
    /// A CSV import, named by its file.
    Import(String),
    /// The contacts API (`POST /api/contacts`), named by its key's id (never the key). It
    /// may do what an import may, no more.
    Api(String),
    /// The person themself (web pages, one-click links, replies).
    Contact,
    /// An automatic rule (bounce handling, retention).
    System(String),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Cli(user) => write!(f, "cli:{user}"),
            Actor::Import(file) => write!(f, "import:{file}"),
            Actor::Api(key_id) => write!(f, "api:{key_id}"),
            Actor::Contact => f.write_str("contact"),
            Actor::System(rule) => write!(f, "system:{rule}"),
        }
    }
}

/// The actor plus what backs the request up.
#[derive(Debug, Clone)]
pub struct Authority {
    pub actor: Actor,
    /// Staff's proof that the person asked (`--proof`): required to lift an
    /// `opted_out_user`, an `unsubscribed` list or a withdrawn purpose. Logged.
    pub proof: Option<String>,
    /// True only when the person has just confirmed a double opt-in themself: the one
    /// thing that may lift their own opt-out or a suppression.
    pub confirmed_double_opt_in: bool,
    /// Stored with the ledger event (file and row, IP, user agent, form id, ...).
    pub evidence: BTreeMap<String, String>,
    /// The person's own sign-up through a web form for an address whose record was
    /// erased (DESIGN §10): it may create a fresh, unconfirmed record although the
    /// address stays suppressed until they confirm. Set by the sign-up only.
    pub signs_up_anew: bool,
}

impl Authority {
    pub fn new(actor: Actor) -> Self {
        Authority {
            actor,
            proof: None,
            confirmed_double_opt_in: false,
            evidence: BTreeMap::new(),
            signs_up_anew: false,
        }
    }

    /// A staff member at the command line, with `--proof` that the person asked if given.
    pub fn staff(user: impl Into<String>, proof: Option<String>) -> Self {
        Authority::new(Actor::Cli(user.into())).with_proof(proof)
    }

    /// A CSV import of the file `file`.
    pub fn import(file: impl Into<String>) -> Self {
        Authority::new(Actor::Import(file.into()))
    }

    /// The person themself; `confirmed` when they have just confirmed a double opt-in.
    pub fn contact(confirmed: bool) -> Self {
        Authority { confirmed_double_opt_in: confirmed, ..Authority::new(Actor::Contact) }
    }

    /// An automatic rule (`bounces`, `complaint`, `lists-clean`, ...).
    pub fn system(rule: impl Into<String>) -> Self {
        Authority::new(Actor::System(rule.into()))
    }

    pub fn with_proof(mut self, proof: Option<String>) -> Self {
        self.proof = proof.filter(|p| !p.trim().is_empty());
        self
    }

    pub fn with_evidence(mut self, key: &str, value: impl Into<String>) -> Self {
        self.evidence.insert(key.to_owned(), value.into());
        self
    }

    /// Staff or an automatic rule: who may restrict, erase or settle a bounce state.
    pub(super) fn is_operator(&self) -> bool {
        matches!(self.actor, Actor::Cli(_) | Actor::System(_))
    }

    pub(super) fn is_the_person(&self) -> bool {
        self.actor == Actor::Contact && self.confirmed_double_opt_in
    }

    /// Staff with proof, or the person themself.
    pub(super) fn may_lift_staff_recorded_choice(&self) -> bool {
        self.is_the_person() || (matches!(self.actor, Actor::Cli(_)) && self.proof.is_some())
    }
}
