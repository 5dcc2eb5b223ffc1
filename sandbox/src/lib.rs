//! Emulated platforms, for ferry's demo, tests and benchmarks: a neutral `kit` (fault
//! injection, the request log, a listener that stops by itself) and one module per
//! platform. Nothing here is part of the product: `ferry` (the library) never depends on it;
//! the `ferry` command does, for `ferry sandbox` and `ferry demo`.

pub mod kit;
pub mod notes;
pub mod strategy;
pub mod unstract;
pub mod versori;
