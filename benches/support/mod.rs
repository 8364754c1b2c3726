//! What the benches share: timing whole processes, counting what they cost, and the
//! peers they are compared with.

// Each bench is its own crate and uses only part of this.
#![allow(dead_code)]

pub mod bed;
pub mod kubelogin;
pub mod process;
pub mod shipped;
