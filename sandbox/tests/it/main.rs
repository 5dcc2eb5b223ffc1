//! The emulators' tests: one binary, a module per platform. Each emulator must behave as its
//! platform's published contract says and fool the platform's own client (`unstract-client`,
//! `mstrio-py`); none of this links the ferry library.

mod mstrio;
mod strategy;
mod support;
mod unstract;
mod unstract_client;
mod versori;
