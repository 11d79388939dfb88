//! `[security]`: encryption at rest (see `crate::sealing`).

use std::path::PathBuf;

use serde::Deserialize;

/// `[security]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// The data keys, current (sealing) first; empty: nothing is sealed.
    pub data_keys: Vec<DataKeySettings>,
    /// The keys read from their files, in the same order (filled by
    /// validation).
    #[serde(skip)]
    pub loaded: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for SecuritySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.debug_struct("SecuritySettings").field("data_keys", &self.data_keys).finish()
    }
}

/// One entry of `data_keys`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataKeySettings {
    /// The key id written into each value it seals.
    pub id: String,
    /// A file holding the 32-byte key as 64 hexadecimal digits.
    pub key_file: PathBuf,
}

impl SecuritySettings {
    /// The keyring these keys make (`None`: encryption off).
    pub fn keyring(&self) -> Option<crate::sealing::Keyring> {
        crate::sealing::Keyring::new(&self.loaded)
    }
}
