//! The errors that stop a simulation before it starts. Failures during a
//! run are not errors of this kind: they are counted by kind in the
//! [`Summary`](crate::Summary).

/// Why the simulator cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A flag's value is not usable.
    #[error("bad flag: {0}")]
    Flag(String),
    /// The daemon's configuration cannot be read or lacks what is needed.
    #[error("configuration: {0}")]
    Config(String),
    /// The daemon does not answer at `--url`.
    #[error("the daemon at {url} is unreachable: {why}")]
    Unreachable { url: String, why: String },
    /// A fake provider cannot listen where the configuration points.
    #[error("cannot listen on 127.0.0.1:{port} for the fake {what}: {why}")]
    Bind { what: &'static str, port: u16, why: String },
}
