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

#[cfg(test)]
mod tests {
    use crate::config::Loader;

    fn load(toml: &str) -> Result<super::super::Settings, String> {
        Loader::new().without_env().overlay(toml.to_owned()).load().map_err(|p| p.to_string())
    }

    fn file(text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("sb-key-{}", ulid::Ulid::new()));
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn data_keys_are_read_in_order_and_bad_ones_named() {
        let (a, b) = (file(&"0a".repeat(32)), file(&format!("{}\n", "0b".repeat(32))));
        let ok = load(&format!(
            "[security]\ndata_keys = [{{ id = \"k2\", key_file = \"{}\" }}, {{ id = \"k1\", key_file = \"{}\" }}]\n",
            b.display(),
            a.display()
        ))
        .expect("loads");
        assert_eq!(ok.security.loaded, [("k2".to_owned(), [0x0b; 32]), ("k1".to_owned(), [0x0a; 32])]);
        assert_eq!(ok.security.keyring().expect("keys").current(), "k2");
        assert!(!format!("{:?}", ok.security).contains("11, 11"), "no key bytes in Debug");
        assert!(load("").expect("defaults").security.keyring().is_none());

        let short = file("abcd");
        let bad = load(&format!(
            "[security]\ndata_keys = [{{ id = \"k1\", key_file = \"{}\" }}, {{ id = \"k1\", key_file = \"{}\" }}, {{ id = \"a b\", key_file = \"/nonexistent/key\" }}]\n",
            a.display(),
            short.display()
        ))
        .expect_err("refused");
        for want in [
            "security.data_keys[1].id: key id \"k1\" is given twice",
            "security.data_keys[1].key_file:",
            "64 hexadecimal digits",
            "security.data_keys[2].id:",
            "security.data_keys[2].key_file: /nonexistent/key: cannot read",
        ] {
            assert!(bad.contains(want), "{want} in {bad}");
        }
    }
}
