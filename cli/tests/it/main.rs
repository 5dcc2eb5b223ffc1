//! The `ferry` command's tests: one binary, a module per area. Each runs the built `ferry`
//! (and `ferry serve`) as a user would, against the emulated platforms.

mod bad_input;
mod clone_strategy;
mod clone_unstract;
mod clone_versori;
mod drift_prune;
mod hooks;
mod hostile;
mod kills;
mod notes_platform;
mod packages;
mod plugins;
mod promotion;
mod rhai_cloner;
mod rollout;
mod sandbox;
mod serve;
mod serve_approvals;
mod serve_browser;
mod serve_contract;
mod serve_strategy;
mod support;
mod target_lock;
