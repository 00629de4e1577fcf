//! The `riskgate` crate's one integration-test binary: the CLI as outside
//! harnesses drive it, the HTTP API by role, the backends side by side,
//! the NATS bus, and the parity of the CLI and the HTTP API. `support`
//! holds what they share (the binary, PostgreSQL and NATS with their
//! explicit skip variables).

mod api;
mod backends;
mod bus;
mod cli;
mod committees;
mod layout;
mod parity;
mod report;
mod support;
