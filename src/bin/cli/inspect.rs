//! `tok inspect`: decodes a token WITHOUT verifying it, for people reviewing one.

use std::time::Duration;

use clap::Args;
use serde_json::{Map, Value, json};
use tok::NumericDate;

use super::clock::{claim_time, relative, short};
use super::input;
use super::output::{BOLD, Failure, YELLOW, colour_stdout, paint_if};

/// Tokens longer than this draw a warning: headers that large slow every request.
const LARGE_TOKEN: usize = 4096;

/// Arguments of `tok inspect`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    tok inspect \"$TOKEN\"\n  \
    pbpaste | tok inspect --json | jq .warnings\n\n\
    The signature is NOT checked: use `tok verify` to decide whether to trust a token.")]
pub struct InspectArgs {
    /// Print one JSON object (with `"verified": false`) instead of text.
    #[arg(long)]
    json: bool,
    /// The token; read from stdin when absent or `-`.
    token: Option<std::ffi::OsString>,
}

pub fn run(args: &InspectArgs) -> Result<(), Failure> {
    let cap = tok::DEFAULT_MAX_TOKEN_LEN * 8;
    let token = input::token(args.token.as_deref(), cap)?;
    let decoded = tok::insecure::decode_unverified(&token, cap).map_err(|e| Failure::Rejected {
        code: e.code(),
        detail: e.detail().to_owned(),
    })?;
    let now = NumericDate::now();
    let times = times(&decoded.claims, now);
    let warnings = warnings(&decoded, now);

    if args.json {
        let out = json!({
            "verified": false,
            "header": decoded.header,
            "claims": decoded.claims,
            "times": times.iter().map(|t| (t.name.to_owned(), json!({
                "unix": t.value,
                "utc": t.utc,
                "relative": t.relative,
            }))).collect::<Map<String, Value>>(),
            "signature_bytes": decoded.signature.len(),
            "warnings": warnings,
        });
        println!("{out}");
        return Ok(());
    }

    let colour = colour_stdout();
    println!(
        "{}",
        paint_if(
            colour,
            "signature NOT verified: anyone can write these contents",
            YELLOW
        )
    );
    println!("{}", paint_if(colour, "header", BOLD));
    println!("{}", pretty(&decoded.header));
    println!("{}", paint_if(colour, "claims", BOLD));
    println!("{}", pretty(&decoded.claims));
    if !times.is_empty() {
        println!("{}", paint_if(colour, "times", BOLD));
        let width = times.iter().map(|t| t.name.len()).max().unwrap_or(0);
        for t in &times {
            println!("  {:<width$} {}  {}", t.name, t.utc, t.relative);
        }
    }
    for w in &warnings {
        println!("{} {w}", paint_if(colour, "warning:", YELLOW));
    }
    Ok(())
}

fn pretty(map: &Map<String, Value>) -> String {
    serde_json::to_string_pretty(map).unwrap_or_default()
}

struct Time {
    name: &'static str,
    value: Value,
    utc: String,
    relative: String,
}

fn times(claims: &Map<String, Value>, now: NumericDate) -> Vec<Time> {
    let phrases = [
        ("exp", "expires", "expired"),
        ("nbf", "valid", "valid since"),
        ("iat", "issued", "issued"),
        // When the user last proved who they are (OpenID Connect; tok's sessions set it).
        ("auth_time", "logged in", "logged in"),
    ];
    phrases
        .iter()
        .filter_map(|&(name, future, past)| {
            let value = claims.get(name)?;
            Some(match claim_time(value) {
                Some(t) => Time {
                    name,
                    value: value.clone(),
                    utc: t.to_rfc3339(),
                    relative: relative(t, now, future, past),
                },
                None => Time {
                    name,
                    value: value.clone(),
                    utc: "-".into(),
                    relative: "not a valid NumericDate".into(),
                },
            })
        })
        .collect()
}

fn warnings(t: &tok::insecure::UnverifiedToken, now: NumericDate) -> Vec<String> {
    let mut w = Vec::new();
    match t.header.get("alg") {
        Some(Value::String(alg)) if alg == tok::ALGORITHM => {}
        Some(alg) => w.push(format!(
            "alg is {alg}, not HS256: tok would reject this token"
        )),
        None => w.push("header has no alg: tok would reject this token".into()),
    }
    if t.header.contains_key("crit") {
        w.push("header has crit: tok supports no critical extensions and would reject it".into());
    }
    for name in ["exp", "nbf", "iat", "auth_time"] {
        if let Some(v) = t.claims.get(name)
            && claim_time(v).is_none()
        {
            w.push(format!(
                "{name} is not a valid NumericDate ({v}): tok would reject it"
            ));
        }
    }
    let exp = t.claims.get("exp").and_then(claim_time);
    match exp {
        None if !t.claims.contains_key("exp") => w.push("no exp: the token never expires".into()),
        Some(exp) => {
            let start = t.claims.get("iat").and_then(claim_time).unwrap_or(now);
            let life = exp.duration_since(start);
            if life > Duration::from_secs(24 * 3600) {
                w.push(format!("lifetime is {}, over a day", short(life)));
            }
        }
        None => {}
    }
    if let Some(nbf) = t.claims.get("nbf").and_then(claim_time)
        && nbf > now
    {
        w.push(format!(
            "nbf is in the future: not valid for another {}",
            short(nbf.duration_since(now))
        ));
    }
    if t.len > LARGE_TOKEN {
        w.push(format!("token is {} bytes, unusually large", t.len));
    }
    if t.signature.len() != 32 {
        w.push(format!(
            "signature is {} bytes; an HS256 signature is 32",
            t.signature.len()
        ));
    }
    w
}
