//! `tok revoke`: denylists one access token by `jti` until it expires.

use clap::Args;
use tok::Validation;
use tok::refresh::{RefreshPolicy, Sessions};

use super::input;
use super::keys::KeyArgs;
use super::output::Failure;
use super::store::{StoreArgs, block_on, failure};

/// `tok revoke`: denylists one access token by `jti` until its `exp`.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  tok revoke --key key.json \"$ACCESS_TOKEN\"\n\n\
    The token must verify with the key; its jti is refused by `tok verify --store` until it expires."
)]
pub struct RevokeAccessArgs {
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// The access token; read from stdin when absent or `-`.
    token: Option<std::ffi::OsString>,
}

/// Runs `tok revoke`.
pub fn run(args: &RevokeAccessArgs) -> Result<(), Failure> {
    let keys = args.key.load()?;
    let token = input::token(args.token.as_deref(), tok::DEFAULT_MAX_TOKEN_LEN)?;
    block_on(async {
        let sessions = Sessions::new(args.store.open().await?, keys, RefreshPolicy::default());
        // Revoking needs proof the token is genuine, not that it is meant for us.
        let validation = Validation::new().allow_unchecked_audience();
        sessions
            .revoke_access(&token, &validation)
            .await
            .map_err(|e| failure(&e))?;
        eprintln!("tok: access token revoked until it expires");
        Ok(())
    })
}
