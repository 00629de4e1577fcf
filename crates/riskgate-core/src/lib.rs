//! Domain vocabulary of riskgate (see MISSION.md glossary): the records that
//! cross the system's edges (DATA.md), their validation, and the decision.
//!
//! Architecture invariant: this crate does no I/O, never reads the clock or
//! the environment, and knows nothing of SQL, HTTP or files.

pub mod case;
pub mod currency;
pub mod decision;
pub mod declaration;
pub mod error;
pub mod fields;
pub mod json;
pub mod records;
pub mod rng;
pub mod rule;
pub mod screened;
pub mod words;

pub use case::{AuditSelection, Case, CaseEntry, CaseKind, CaseQuery, CaseResult, CaseStatus, CaseStep};
pub use decision::{Channel, Decision, Disposal, Reason, RiskLevel, Source};
pub use declaration::{Declaration, Direction, Document, Item, OverseasParty, Party, TransportMode};
pub use error::ValidationError;
pub use records::{
    ControlKind, CreditClass, Enterprise, ForexPayment, LitigationOutcome, Office, OfficeLevel, Officer, Outcome,
    OutcomeResult, Release, TaxInvoice, WorkforceRecord,
};
pub use rule::{RuleDef, RuleStatus};
pub use screened::{OutcomeKeys, Screened, TaskSpec};
