//! `tok verify`: checks a token's signature and claims; prints the claims.

use std::time::Duration;

use clap::Args;
use serde_json::{Map, Value, json};
use tok::{NumericDate, Validation};

use super::clock::{parse_duration, parse_time, rejection};
use super::input;
use super::keys::KeyArgs;
use super::output::Failure;

/// Arguments of `tok verify`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    tok verify --key key.json --aud api \"$TOKEN\"\n  \
    echo \"$TOKEN\" | tok verify --iss https://auth.example --json\n  \
    tok verify --key key.json --at 2026-01-01T00:00:00Z \"$TOKEN\"   # as of another time\n\n\
    Exit codes: 0 valid, 1 rejected (tok: rejected: CODE: detail), 2 usage, 3 key or I/O.")]
pub struct VerifyArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// Accepted audience; repeat for several (any one must match).
    #[arg(long)]
    aud: Vec<String>,
    /// Accepted issuer; repeat for several.
    #[arg(long)]
    iss: Vec<String>,
    /// Required subject.
    #[arg(long)]
    sub: Option<String>,
    /// Expected header `typ` (default JWT).
    #[arg(long)]
    typ: Option<String>,
    /// Clock-skew allowance for exp, nbf and iat (default: 0 for exp, 30s for nbf/iat).
    #[arg(long, value_parser = parse_duration)]
    leeway: Option<Duration>,
    /// A claim that must be present; repeatable.
    #[arg(long)]
    require: Vec<String>,
    /// Reject tokens issued longer ago than this (needs iat).
    #[arg(long, value_parser = parse_duration)]
    max_age: Option<Duration>,
    /// Reject tokens whose user logged in (`auth_time`) longer ago than this, or that
    /// do not say when (exit 1, insufficient-user-authentication).
    #[arg(long, value_parser = parse_duration)]
    max_auth_age: Option<Duration>,
    /// Accept only this authentication level (`acr`); repeatable (any one matches).
    #[arg(long, value_name = "LEVEL")]
    acr: Vec<String>,
    /// Accept tokens without exp.
    #[arg(long)]
    allow_no_exp: bool,
    /// Verify as of this time (RFC 3339 or Unix seconds) instead of now.
    #[arg(long, value_parser = parse_time)]
    at: Option<NumericDate>,
    /// Print the verdict as one JSON object on stdout, header and claims or error code
    /// and detail, and nothing on stderr; a problem that is not a verdict (a missing key,
    /// an unreachable store) is still one line on stderr, exit 2 or 3, without JSON.
    #[arg(long)]
    json: bool,
    /// Also check online: the jti denylist and the session (sid) in this store URL
    /// (default: $TOK_STORE when set, as for every command that uses a store).
    #[arg(long, value_name = "URL", conflicts_with = "offline")]
    store: Option<String>,
    /// Check the signature and claims only, even when TOK_STORE is set: a revoked
    /// session's token then still verifies.
    #[arg(long)]
    offline: bool,
    /// With a store: also accept a token without `sid`, which no logout can end (only a
    /// `jti` denylist entry or its `exp`). By default an online check refuses it.
    #[arg(long, conflicts_with = "offline")]
    allow_no_sid: bool,
    /// The token; read from stdin when absent or `-`.
    token: Option<std::ffi::OsString>,
}

pub fn run(args: &VerifyArgs) -> Result<(), Failure> {
    let keys = args.key.load()?;
    // A set in which no key may verify is a key problem for every token alike, said before
    // any token is read, so no token's shape decides between exit 1 and exit 3.
    if !keys.keys().iter().any(tok::HmacKey::may_verify) {
        return Err(Failure::io("key: key_ops of every key forbid verifying"));
    }
    let validation = validation(args);
    let token = match input::token(args.token.as_deref(), validation.max_token_len()) {
        Ok(token) => token,
        // An input refused before parsing (too long, not UTF-8) is still a verdict: under
        // --json it is said as one, like every other rejection.
        Err(Failure::Rejected { code, detail }) if args.json => {
            println!(
                "{}",
                json!({"valid": false, "error": code, "detail": detail})
            );
            return Err(Failure::RejectedInJson);
        }
        Err(failure) => return Err(failure),
    };
    let now = args.at.unwrap_or_else(NumericDate::now);
    let store = if args.offline {
        None
    } else {
        super::store::configured(args.store.as_deref())?
    };
    let result = match &store {
        Some(url) => online(url, keys, &token, &validation, now, args.allow_no_sid),
        None => tok::verify_at::<Map<String, Value>>(&keys, &token, &validation, now),
    };
    match result {
        Ok(verified) => {
            let claims = serde_json::to_value(&verified.claims).unwrap_or(Value::Null);
            if args.json {
                let h = &verified.header;
                let mut header = Map::new();
                header.insert("alg".into(), h.alg().into());
                for (name, value) in [("typ", h.typ()), ("kid", h.kid()), ("cty", h.cty())] {
                    if let Some(v) = value {
                        header.insert(name.into(), v.into());
                    }
                }
                println!(
                    "{}",
                    json!({"valid": true, "header": header, "claims": claims})
                );
            } else {
                println!("{claims}");
            }
            Ok(())
        }
        Err(e) if e.kind() == tok::ErrorKind::InvalidKey => Err(Failure::key(&e)),
        Err(e) if e.kind() == tok::ErrorKind::Store => Err(Failure::io(e.detail().to_owned())),
        Err(e) if e.kind() == tok::ErrorKind::Config => Err(Failure::usage(e.detail().to_owned())),
        Err(e) => {
            let failure = rejection(&e, now);
            if args.json
                && let Failure::Rejected { code, detail } = &failure
            {
                println!(
                    "{}",
                    json!({"valid": false, "error": code, "detail": detail})
                );
                return Err(Failure::RejectedInJson);
            }
            Err(failure)
        }
    }
}

/// The whole check with the store, on a runtime of its own: the same code as an
/// application's online check (`Sessions::verify_access`), so the rules cannot differ
/// (a token without `sid` is refused unless `allow_no_sid`).
fn online(
    url: &str,
    keys: tok::KeySet,
    token: &str,
    validation: &Validation,
    now: NumericDate,
    allow_no_sid: bool,
) -> Result<tok::Verified<Map<String, Value>>, tok::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            tok::Error::new(tok::ErrorKind::Store, format!("starting the runtime: {e}"))
        })?;
    runtime.block_on(async {
        let store = tok::store::open(url).await?;
        let mut sessions =
            tok::refresh::Sessions::new(store, keys, tok::refresh::RefreshPolicy::default())
                .with_clock(move || now);
        if allow_no_sid {
            sessions = sessions.accepting_tokens_without_session();
        }
        sessions.verify_access(token, validation).await
    })
}

fn validation(args: &VerifyArgs) -> Validation {
    let mut v = Validation::new();
    for aud in &args.aud {
        v = v.with_audience(aud);
    }
    for iss in &args.iss {
        v = v.with_issuer(iss);
    }
    if let Some(sub) = &args.sub {
        v = v.with_subject(sub);
    }
    if let Some(typ) = &args.typ {
        v = v.with_type(typ);
    }
    if let Some(leeway) = args.leeway {
        v = v
            .with_expiry_leeway(leeway)
            .with_not_before_leeway(leeway.max(tok::DEFAULT_NOT_BEFORE_LEEWAY));
    }
    for name in &args.require {
        v = v.require_claim(name);
    }
    if let Some(age) = args.max_age {
        v = v.with_max_age(age);
    }
    if let Some(age) = args.max_auth_age {
        v = v.with_max_auth_age(age);
    }
    if !args.acr.is_empty() {
        v = v.with_acr_values(&args.acr);
    }
    if args.allow_no_exp {
        v = v.allow_missing_expiry();
    }
    v
}
