//! Which token cache backend a command uses, as `--token-cache` names it.

/// Token cache backends; `Keyring` picks the OS keyring for this platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Keyring,
    Keyutils,
    SecretService,
    File,
    None,
}

impl Kind {
    /// The `--token-cache` value that names this backend.
    pub fn flag_value(self) -> &'static str {
        match self {
            Kind::Keyring => "keyring",
            Kind::Keyutils => "keyutils",
            Kind::SecretService => "secret-service",
            Kind::File => "file",
            Kind::None => "none",
        }
    }

    /// The arguments an exec entry needs to use this backend too (none for the default).
    pub fn exec_args(self) -> Vec<String> {
        match self {
            Kind::Keyring => Vec::new(),
            other => vec!["--token-cache".to_string(), other.flag_value().to_string()],
        }
    }
}
