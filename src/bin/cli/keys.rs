//! Where the key comes from: a file, a named environment variable, or `TOK_KEY`. Never
//! from the command line, where `ps` and shell history would show it.

use clap::Args;
use tok::{HmacKey, KeySet};
use zeroize::Zeroizing;

use super::input;
use super::output::Failure;

/// The default environment variable holding the key.
pub const DEFAULT_ENV: &str = "TOK_KEY";

/// Key options shared by every command that needs a key.
#[derive(Args, Debug)]
pub struct KeyArgs {
    /// A file holding a JWK or a JWK Set (JSON).
    #[arg(long, value_name = "FILE", conflicts_with = "key_env")]
    pub key: Option<String>,
    /// An environment variable holding a JWK / JWK Set, or a base64url raw secret.
    #[arg(long, value_name = "NAME")]
    pub key_env: Option<String>,
}

impl KeyArgs {
    /// Loads the key set from whichever source was given (or `TOK_KEY`).
    pub fn load(&self) -> Result<KeySet, Failure> {
        if let Some(path) = &self.key {
            let text = input::small_file(path).map_err(|f| f.context("key file"))?;
            // A key file holds JSON only (its --help says so): a raw secret in a file is
            // refused, since a file that lost its JSON would otherwise become a key.
            if !text.trim_start().starts_with('{') {
                return Err(Failure::io(format!(
                    "key file {path}: not a JWK or JWK Set (a JSON object); \
                     `tok keygen --out FILE` writes one"
                )));
            }
            return KeySet::from_jwk_or_jwks(text.trim())
                .map_err(|e| Failure::io(format!("key file {path}: {}", e.detail())));
        }
        let name = self.key_env.as_deref().unwrap_or(DEFAULT_ENV);
        let Some(value) = std::env::var_os(name) else {
            return Err(Failure::io(match &self.key_env {
                Some(_) => format!("environment variable {name} is not set"),
                None => "no key given: use --key FILE, --key-env NAME, or set TOK_KEY".to_owned(),
            }));
        };
        let text = Zeroizing::new(
            value
                .into_string()
                .map_err(|_| Failure::io(format!("environment variable {name} is not UTF-8")))?,
        );
        if text.trim().is_empty() {
            return Err(Failure::io(format!(
                "environment variable {name} is empty: it must hold a JWK, a JWK Set or a \
                 base64url secret"
            )));
        }
        parse(&text).map_err(|e| Failure::io(format!("key from {name}: {}", e.detail())))
    }
}

/// A JWK or JWK Set (JSON), or else a base64url raw secret.
fn parse(text: &str) -> Result<KeySet, tok::Error> {
    let text = text.trim();
    if text.starts_with('{') {
        return KeySet::from_jwk_or_jwks(text);
    }
    let secret = Zeroizing::new(tok::base64url::decode(text.as_bytes())?);
    Ok(KeySet::new(HmacKey::from_bytes(&secret)?))
}
