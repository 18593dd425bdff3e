//! `tok refresh issue|rotate|revoke|purge` and `tok revoke`: sessions from the shell.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Map, Value};
use tok::NumericDate;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::Store;
use zeroize::Zeroizing;

use super::clock::parse_duration;
use super::input;
use super::keys::KeyArgs;
use super::output::Failure;
use super::store::{StoreArgs, block_on, failure};

/// `tok refresh ...`
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    tok refresh issue --key key.json --sub alice > pair.json\n  \
    jq -r .refresh_token pair.json | tok refresh rotate --key key.json\n  \
    jq -r .refresh_token pair.json | tok refresh revoke --key key.json\n  \
    tok refresh revoke --subject alice\n\n\
    Refresh tokens are read from standard input: an argument shows in `ps` and shell history.\n\
    Store: --store URL or TOK_STORE (sqlite:PATH, redis://HOST:PORT, \
    redis+cluster://HOST:PORT,..., postgres://USER@HOST/DATABASE); a URL with a password \
    belongs in TOK_STORE, not on the command line.")]
pub struct RefreshArgs {
    #[command(subcommand)]
    command: RefreshCommand,
}

#[derive(Subcommand, Debug)]
enum RefreshCommand {
    /// Start a session: prints an OAuth 2.0 token response (access + refresh token).
    #[command(
        after_help = "Example:\n  tok refresh issue --key key.json --sub alice --claim role=admin > pair.json"
    )]
    Issue(IssueArgs),
    /// Rotate a refresh token: prints a new token response; the old token is retired.
    #[command(
        after_help = "Example:\n  jq -r .refresh_token pair.json | tok refresh rotate --key key.json\n\n\
        Presenting a retired token revokes its whole session: exit 1, refresh-reused."
    )]
    Rotate(RotateArgs),
    /// Revoke a session by refresh token (logout), all sessions of a subject, or (an
    /// operator's action) a session by id.
    #[command(
        after_help = "Examples:\n  jq -r .refresh_token pair.json | tok refresh revoke --key key.json   # logout\n  \
        tok refresh revoke --subject alice                                  # logout everywhere\n\n\
        A token is revoked only if its session minted it: a made-up token is refresh-unknown\n\
        and changes nothing; a retired one is refresh-reused and revokes the session.\n\
        Give refresh tokens on standard input: an argument shows in `ps` and shell history."
    )]
    Revoke(RevokeArgs),
    /// Delete expired sessions and denylist entries.
    #[command(after_help = "Example:\n  tok refresh purge --store sqlite:/var/lib/tok.db")]
    Purge(PurgeArgs),
    /// List a subject's live sessions, oldest first: one JSON object per line (id,
    /// created_at, last_used_at, expires_at, idle_expires_at, as NumericDates).
    #[command(after_help = "Example:\n  tok refresh list --subject alice")]
    List(ListArgs),
    /// End one session of a subject (by id, from `tok refresh list`): exit 0 when it
    /// ended, exit 1 when the subject has no such live session (nothing changes).
    #[command(after_help = "Example:\n  tok refresh end --subject alice --session Jq3...")]
    End(EndArgs),
}

#[derive(Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Whose sessions.
    #[arg(long)]
    subject: String,
}

#[derive(Args, Debug)]
struct EndArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Whose session: a session of another subject is never ended.
    #[arg(long)]
    subject: String,
    /// The session id (`id` in `tok refresh list`, an access token's `sid`).
    #[arg(long, allow_hyphen_values = true)]
    session: String,
}

#[derive(Args, Debug)]
struct PolicyArgs {
    /// Access-token lifetime.
    #[arg(long, value_parser = parse_duration, default_value = "15m")]
    access_ttl: Duration,
    /// Grace window for the immediately previous refresh token (at most 5m).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    grace: Duration,
    /// `iss` of access tokens.
    #[arg(long)]
    iss: Option<String>,
    /// `aud` of access tokens.
    #[arg(long)]
    aud: Option<String>,
    /// An environment variable holding the client fingerprint the session is bound to.
    #[arg(long, value_name = "NAME")]
    fingerprint_env: Option<String>,
}

impl PolicyArgs {
    fn policy(&self) -> Result<RefreshPolicy, Failure> {
        let mut p = RefreshPolicy::default()
            .with_access_ttl(self.access_ttl)
            .with_grace(self.grace)
            .map_err(|e| Failure::usage(e.detail().to_owned()))?;
        if let Some(iss) = &self.iss {
            p = p.with_issuer(iss);
        }
        if let Some(aud) = &self.aud {
            p = p.with_audience(aud);
        }
        Ok(p)
    }

    fn fingerprint(&self) -> Result<Option<Zeroizing<Vec<u8>>>, Failure> {
        let Some(name) = &self.fingerprint_env else {
            return Ok(None);
        };
        let value = std::env::var_os(name)
            .ok_or_else(|| Failure::io(format!("environment variable {name} is not set")))?;
        Ok(Some(Zeroizing::new(value.into_encoded_bytes())))
    }
}

#[derive(Args, Debug)]
struct IssueArgs {
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    /// The subject (`sub`) of the session.
    #[arg(long)]
    sub: String,
    /// Absolute session lifetime (rotation never extends it).
    #[arg(long, value_parser = parse_duration, default_value = "30d")]
    lifetime: Duration,
    /// Idle timeout: the session ends if not rotated for this long.
    #[arg(long, value_parser = parse_duration, default_value = "7d")]
    idle: Duration,
    /// An access claim NAME=VALUE (JSON if it parses, else a string). Repeatable.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    claims: Vec<String>,
    /// A label the session keeps for `tok refresh list` and devices pages (a device
    /// name; never a secret; at most 200 bytes).
    #[arg(long, default_value = "")]
    label: String,
    /// How the user proved who they are (`amr`: pwd, otp, hwk...), which access tokens
    /// carry with `auth_time`. Repeatable.
    #[arg(long = "amr", value_name = "METHOD")]
    amr: Vec<String>,
    /// The authentication level (`acr`) access tokens carry.
    #[arg(long, value_name = "LEVEL")]
    acr: Option<String>,
    /// The login is not remembered: the session lasts --unremembered-lifetime, and its
    /// pairs say a web layer should set session cookies.
    #[arg(long)]
    not_remembered: bool,
    /// Absolute lifetime of a session whose login is not remembered (at most --lifetime).
    #[arg(long, value_parser = parse_duration, default_value = "12h")]
    unremembered_lifetime: Duration,
}

#[derive(Args, Debug)]
struct RotateArgs {
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    /// New access claims NAME=VALUE for a privilege change. Repeatable.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    claims: Vec<String>,
    /// The refresh token; read from stdin when absent or `-` (prefer stdin: an argument
    /// shows in `ps` and shell history).
    // Refresh tokens are base64url and may begin with `-`: never read them as flags.
    #[arg(allow_hyphen_values = true)]
    token: Option<std::ffi::OsString>,
}

#[derive(Args, Debug)]
struct RevokeArgs {
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Grace window the sessions use: the previous token inside it logs out like the live one.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    grace: Duration,
    /// Revoke the session with this id (an access token's `sid`, an id `tok refresh list`
    /// shows). Anyone who saw an access token knows it: an operator's action, never a
    /// user's logout. `--family` is the same flag under its former name.
    #[arg(long, alias = "family", conflicts_with_all = ["subject", "token"], allow_hyphen_values = true)]
    session: Option<String>,
    /// Revoke every session of this subject.
    #[arg(long, conflicts_with = "token")]
    subject: Option<String>,
    /// The refresh token whose session to revoke; read from stdin when absent or `-`
    /// (prefer stdin: an argument shows in `ps` and shell history).
    #[arg(allow_hyphen_values = true)]
    token: Option<std::ffi::OsString>,
}

#[derive(Args, Debug)]
struct PurgeArgs {
    #[command(flatten)]
    store: StoreArgs,
}

/// Refresh tokens are short; this caps what is read from stdin.
const REFRESH_CAP: usize = 256;

fn parse_claims(pairs: &[String]) -> Result<Map<String, Value>, Failure> {
    let mut map = Map::new();
    for pair in pairs {
        let (name, raw) = pair
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--claim {pair:?}: expected NAME=VALUE")))?;
        if tok::REGISTERED.contains(&name) || name == tok::refresh::SESSION_CLAIM {
            return Err(Failure::usage(format!(
                "--claim {name}=...: tok sets {name} in session access tokens (use --sub, \
                 --access-ttl, --iss, --aud)"
            )));
        }
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
        if map.insert(name.to_owned(), value).is_some() {
            return Err(Failure::usage(format!("claim {name:?} is given twice")));
        }
    }
    Ok(map)
}

/// A fingerprint's bytes as the sessions take them.
fn bytes(f: &Vec<u8>) -> tok::refresh::Fingerprint<'_> {
    f
}

/// "no live session", "1 live session", "2 live sessions".
fn sessions(count: u64) -> String {
    match count {
        0 => "no live session".to_owned(),
        1 => "1 live session".to_owned(),
        n => format!("{n} live sessions"),
    }
}

/// A `refresh-unknown` says where tok looked and the two usual causes.
fn unknown_where(failure: Failure, store: &StoreArgs) -> Failure {
    match failure {
        Failure::Rejected { code, detail } if code == "refresh-unknown" => {
            let url = store
                .url()
                .map(|u| tok::store::redact_url(&u))
                .unwrap_or_default();
            Failure::Rejected {
                code,
                detail: format!(
                    "{detail} (looked in {url}: was it issued with another store, or another \
                     key?)"
                ),
            }
        }
        other => other,
    }
}

fn print_pair(pair: &tok::refresh::TokenPair) -> Result<(), Failure> {
    let json = Zeroizing::new(serde_json::to_string(pair).map_err(|e| Failure::io(e.to_string()))?);
    println!("{}", json.as_str());
    Ok(())
}

pub fn run(args: &RefreshArgs) -> Result<(), Failure> {
    match &args.command {
        RefreshCommand::Issue(a) => {
            let keys = a.key.load()?;
            let policy = a
                .policy
                .policy()?
                .with_session_lifetime(a.lifetime)
                .with_unremembered_lifetime(a.unremembered_lifetime)
                .with_idle_timeout(a.idle);
            let claims = parse_claims(&a.claims)?;
            let fingerprint = a.policy.fingerprint()?;
            let mut details = tok::refresh::LoginDetails::new()
                .with_label(a.label.as_str())
                .with_methods(&a.amr)
                .remembered_if(!a.not_remembered);
            if let Some(acr) = &a.acr {
                details = details.with_level(acr);
            }
            block_on(async {
                let sessions = Sessions::new(a.store.open().await?, keys, policy);
                let pair = sessions
                    .issue_with(&a.sub, &claims, fingerprint.as_deref().map(bytes), &details)
                    .await
                    .map_err(|e| failure(&e))?;
                print_pair(&pair)
            })
        }
        RefreshCommand::Rotate(a) => {
            let keys = a.key.load()?;
            let policy = a.policy.policy()?;
            let token = Zeroizing::new(input::token(a.token.as_deref(), REFRESH_CAP)?);
            let fingerprint = a.policy.fingerprint()?;
            let claims = (!a.claims.is_empty())
                .then(|| parse_claims(&a.claims))
                .transpose()?;
            block_on(async {
                let sessions = Sessions::new(a.store.open().await?, keys, policy);
                let fp = fingerprint.as_deref().map(bytes);
                let pair = match claims {
                    Some(c) => sessions.rotate_with_claims(&token, fp, &c).await,
                    None => sessions.rotate(&token, fp).await,
                }
                .map_err(|e| unknown_where(failure(&e), &a.store))?;
                print_pair(&pair)
            })
        }
        RefreshCommand::Revoke(a) => {
            let policy = RefreshPolicy::default()
                .with_grace(a.grace)
                .map_err(|e| Failure::usage(e.detail().to_owned()))?;
            // Only the token path needs the key (to check the token); the others do not.
            let by_token = a.subject.is_none() && a.session.is_none();
            let keys = by_token.then(|| a.key.load()).transpose()?;
            let token = by_token
                .then(|| input::token(a.token.as_deref(), REFRESH_CAP).map(Zeroizing::new))
                .transpose()?;
            block_on(async {
                let store = a.store.open().await?;
                let now = NumericDate::now();
                let (what, count) = match (&a.subject, &a.session, keys, token) {
                    (Some(subject), _, _, _) => (
                        format!(" of subject {subject:?}"),
                        store.revoke_subject(subject, now).await,
                    ),
                    (None, Some(session), _, _) => (
                        format!(" (session {session})"),
                        store.revoke_family(session, now).await.map(u64::from),
                    ),
                    (None, None, Some(keys), Some(token)) => {
                        let sessions = Sessions::new(store, keys, policy);
                        (
                            " (the token's session)".to_owned(),
                            sessions.revoke_refresh(&token).await.map(u64::from),
                        )
                    }
                    _ => unreachable!("by_token loaded both the key and the token"),
                };
                let count = count.map_err(|e| failure(&e))?;
                eprintln!("tok: ended {}{what}", sessions(count));
                Ok(())
            })
        }
        RefreshCommand::List(a) => block_on(async {
            let store = a.store.open().await?;
            let listed = store
                .sessions_of(&a.subject, NumericDate::now())
                .await
                .map_err(|e| failure(&e))?;
            for family in &listed {
                let info = tok::refresh::SessionInfo::from(family);
                println!("{}", serde_json::to_string(&info).unwrap_or_default());
            }
            eprintln!(
                "tok: {} of subject {:?}",
                sessions(listed.len() as u64),
                a.subject
            );
            Ok(())
        }),
        RefreshCommand::End(a) => block_on(async {
            let store = a.store.open().await?;
            let ended = store
                .end_session(&a.subject, &a.session, NumericDate::now())
                .await
                .map_err(|e| failure(&e))?;
            if ended {
                eprintln!(
                    "tok: ended session {} of subject {:?}",
                    a.session, a.subject
                );
                Ok(())
            } else {
                Err(Failure::Rejected {
                    code: "no-session",
                    detail: format!(
                        "subject {:?} has no live session {}: nothing changed",
                        a.subject, a.session
                    ),
                })
            }
        }),
        RefreshCommand::Purge(a) => block_on(async {
            let store = a.store.open().await?;
            if store.expires_by_itself() {
                eprintln!(
                    "tok: this store removes ended sessions by itself (key expiry): nothing to purge"
                );
                return Ok(());
            }
            let removed = store
                .purge_expired(NumericDate::now())
                .await
                .map_err(|e| failure(&e))?;
            let records = if removed == 1 { "record" } else { "records" };
            eprintln!("tok: purged {removed} expired {records}");
            Ok(())
        }),
    }
}
