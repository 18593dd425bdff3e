//! What the rotation benches (`refresh`, `redis`) share: the measuring window and the
//! tok side of each measurement.

pub mod rotation;
pub mod window;
