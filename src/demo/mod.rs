//! The simulated estate (`shipdeck demo`): in-process servers on 127.0.0.1 speaking the real protocols.
//!
//! Depends on nothing in `ui/` or `app/`; the console does not know it talks to the demo.

pub mod ci;
pub mod registry;
pub mod traffic;
