//! `tok sign`: claims from flags, `--claim` and `--claims`, signed; prints the token.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;
use serde_json::{Map, Value};
use tok::{Claims, NumericDate};

use super::clock::parse_duration;
use super::input;
use super::keys::KeyArgs;
use super::output::Failure;

/// Arguments of `tok sign`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    tok sign --key key.json --sub alice --aud api --ttl 1h\n  \
    tok sign --sub alice --claim role=admin --claim 'scopes=[\"read\",\"write\"]'\n  \
    echo '{\"tenant\":\"acme\"}' | tok sign --sub bob --claims -")]
pub struct SignArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// Sign with the key of this kid from a key set (default: the first key).
    #[arg(long)]
    kid: Option<String>,
    /// Subject (`sub`).
    #[arg(long)]
    sub: Option<String>,
    /// Issuer (`iss`).
    #[arg(long)]
    iss: Option<String>,
    /// Audience (`aud`); repeat for several.
    #[arg(long)]
    aud: Vec<String>,
    /// Lifetime: `exp` = now + TTL (default 15m).
    #[arg(long, value_parser = parse_duration, conflicts_with = "no_exp", allow_hyphen_values = true)]
    ttl: Option<Duration>,
    /// Write no `exp` (the token never expires; verifiers reject it by default).
    #[arg(long)]
    no_exp: bool,
    /// Not valid before now + DUR (`nbf`).
    #[arg(long, value_parser = parse_duration)]
    nbf: Option<Duration>,
    /// Token id (`jti`; default: 128 random bits).
    #[arg(long, conflicts_with = "no_jti")]
    jti: Option<String>,
    /// Write no `jti`.
    #[arg(long)]
    no_jti: bool,
    /// Header `typ` (default JWT; e.g. at+jwt for RFC 9068 access tokens).
    #[arg(long)]
    typ: Option<String>,
    /// A claim NAME=VALUE; VALUE is JSON if it parses as JSON, else a string. Repeatable.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    claims: Vec<String>,
    /// Merge the claims of a JSON object from FILE, or from stdin with `-`.
    #[arg(long = "claims", value_name = "FILE|-")]
    claims_file: Option<String>,
}

pub fn run(args: &SignArgs) -> Result<(), Failure> {
    let keys = args.key.load()?;
    let keys = match &args.kid {
        Some(kid) => keys.with_signing_kid(kid).map_err(|e| Failure::key(&e))?,
        None => keys,
    };
    let key = keys.signing_key();

    // Whole seconds throughout, so exp - iat is exactly the requested lifetime.
    let claims = build_claims(args, NumericDate::now().floor_secs())?;
    let token = match &args.typ {
        Some(typ) => tok::sign_with_type(key, typ, &claims),
        None => tok::sign(key, &claims),
    }
    .map_err(|e| match e.kind() {
        tok::ErrorKind::InvalidKey => Failure::key(&e),
        _ => Failure::usage(format!("claims: {}", e.detail())),
    })?;
    println!("{token}");
    Ok(())
}

/// The flag that sets registered claim `name`, if `name` is one.
fn registered_flag(name: &str) -> Option<&'static str> {
    Some(match name {
        "sub" => "--sub",
        "iss" => "--iss",
        "aud" => "--aud",
        "exp" => "--ttl (or --no-exp)",
        "nbf" => "--nbf",
        "iat" => "--claims FILE (iat is set to now by default)",
        "jti" => "--jti (or --no-jti)",
        _ => return None,
    })
}

/// Every explicit claim, from flags, `--claims` and `--claim`; a name given twice is a
/// usage error. Defaults (`exp`, `iat`, `jti`) fill only what was not given.
fn build_claims(args: &SignArgs, now: NumericDate) -> Result<Claims<Map<String, Value>>, Failure> {
    let mut explicit: BTreeMap<String, (Value, &'static str)> = BTreeMap::new();
    let mut put = |name: &str, value: Value, from: &'static str| match explicit.get(name) {
        Some((_, first)) => Err(Failure::usage(format!(
            "claim {name:?} is given twice (by {first} and by {from})"
        ))),
        None => {
            explicit.insert(name.to_owned(), (value, from));
            Ok(())
        }
    };
    let secs = |t: NumericDate| Value::from(t.as_secs());

    if let Some(sub) = &args.sub {
        put("sub", sub.as_str().into(), "--sub")?;
    }
    if let Some(iss) = &args.iss {
        put("iss", iss.as_str().into(), "--iss")?;
    }
    match args.aud.as_slice() {
        [] => {}
        [one] => put("aud", one.as_str().into(), "--aud")?,
        many => put("aud", many.to_vec().into(), "--aud")?,
    }
    if let Some(ttl) = args.ttl {
        put("exp", secs(now.saturating_add(ttl)), "--ttl")?;
    }
    if let Some(nbf) = args.nbf {
        put("nbf", secs(now.saturating_add(nbf)), "--nbf")?;
    }
    if let Some(jti) = &args.jti {
        put("jti", jti.as_str().into(), "--jti")?;
    }
    if let Some(source) = &args.claims_file {
        let text = match source.as_str() {
            "-" => input::small_stdin()?,
            path => input::small_file(path)?.to_string(),
        };
        // tok's JSON rule, as for tokens: a repeated member (`"role":"user","role":"admin"`)
        // is refused, not silently resolved to one of its values.
        let object: Map<String, Value> = tok::from_json_strict(&text).map_err(|e| {
            Failure::usage(format!(
                "--claims {source}: not a JSON object: {}",
                e.detail()
            ))
        })?;
        for (name, value) in object {
            put(&name, value, "--claims")?;
        }
    }
    for pair in &args.claims {
        let (name, raw) = pair
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--claim {pair:?}: expected NAME=VALUE")))?;
        if name.is_empty() {
            return Err(Failure::usage(format!(
                "--claim {pair:?}: the name is empty"
            )));
        }
        // Registered claims have their own flags, which know their types and units:
        // `--claim exp=5` would silently sign a token that expired in 1970.
        if let Some(flag) = registered_flag(name) {
            return Err(Failure::usage(format!(
                "--claim {name}=...: {name} is a registered claim; use {flag}"
            )));
        }
        // VALUE is JSON when it parses as JSON; JSON that repeats a member is refused, not
        // signed as a string or with one of the two values.
        let value = match serde_json::from_str::<Value>(raw) {
            Ok(_) => tok::from_json_strict(raw)
                .map_err(|e| Failure::usage(format!("--claim {name}=...: {}", e.detail())))?,
            Err(_) => Value::String(raw.to_owned()),
        };
        put(name, value, "--claim")?;
    }

    if args.no_exp && explicit.contains_key("exp") {
        return Err(Failure::usage(
            "--no-exp conflicts with an explicit exp claim",
        ));
    }
    if args.no_jti && explicit.contains_key("jti") {
        return Err(Failure::usage(
            "--no-jti conflicts with an explicit jti claim",
        ));
    }
    let mut object: Map<String, Value> = explicit.into_iter().map(|(k, (v, _))| (k, v)).collect();
    if !args.no_exp && !object.contains_key("exp") {
        object.insert(
            "exp".into(),
            secs(now.saturating_add(Duration::from_secs(15 * 60))),
        );
    }
    if !object.contains_key("iat") {
        object.insert("iat".into(), secs(now));
    }
    if !args.no_jti && !object.contains_key("jti") {
        let jti = tok::random::token(16).map_err(|e| Failure::io(e.detail().to_owned()))?;
        object.insert("jti".into(), jti.into());
    }
    // Reading the object back through `Claims` applies tok's typing: a string `exp` or a
    // negative `nbf` is refused here, not signed.
    serde_json::from_value(Value::Object(object))
        .map_err(|e| Failure::usage(format!("claims: {e}")))
}
