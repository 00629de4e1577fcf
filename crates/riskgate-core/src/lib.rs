//! Domain vocabulary of riskgate (see MISSION.md glossary): the records that
//! cross the system's edges (DATA.md), their validation, and the decision.
//!
//! Architecture invariant: this crate does no I/O, never reads the clock or
//! the environment, and knows nothing of SQL, HTTP or files.

pub mod rng;
