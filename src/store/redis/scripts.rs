//! The Lua scripts every compare-and-swap runs as, with the family fields they read and
//! return.

use redis::Script;

use crate::store::redis::codec::FORMAT_VERSION;

/// How far past the family's deadline its key is kept, so that a run of rotations renews
/// the TTL once per this period instead of on every rotation (a PEXPIRE per rotation was
/// a tenth of the script's server time). Dead families are refused by the deadline check
/// in any case, and `purge_expired` removes them at once.
pub(super) const TTL_SLACK_MS: u64 = 3_600_000;

pub(super) struct Scripts {
    pub(super) create: Script,
    pub(super) rotate: Script,
    pub(super) logout: Script,
    pub(super) revoke: Script,
    pub(super) track_subject: Script,
    pub(super) deny: Script,
    pub(super) purge_family: Script,
    pub(super) purge_deny: Script,
}

pub(super) fn scripts() -> &'static Scripts {
    static SCRIPTS: std::sync::OnceLock<Scripts> = std::sync::OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        create: script(include_str!("create.lua")),
        rotate: script(include_str!("rotate.lua")),
        logout: script(include_str!("logout.lua")),
        revoke: script(include_str!("revoke.lua")),
        track_subject: script(include_str!("track_subject.lua")),
        deny: script(include_str!("deny.lua")),
        purge_family: script(include_str!("purge_family.lua")),
        purge_deny: script(include_str!("purge_deny.lua")),
    })
}

/// A script with `@SLACK@` replaced by [`TTL_SLACK_MS`] and `@VERSION@` by
/// [`FORMAT_VERSION`]: literals, so the server reads no argument for them.
fn script(source: &str) -> Script {
    Script::new(
        &source
            .replace("@SLACK@", &TTL_SLACK_MS.to_string())
            .replace("@VERSION@", FORMAT_VERSION),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scripts compile into distinct SHA1s (so EVALSHA never runs the wrong one).
    #[test]
    fn scripts_are_distinct() {
        let s = scripts();
        let all = [
            &s.create,
            &s.rotate,
            &s.logout,
            &s.revoke,
            &s.track_subject,
            &s.deny,
            &s.purge_family,
            &s.purge_deny,
        ];
        let shas: std::collections::HashSet<_> =
            all.iter().map(|s| s.get_hash().to_owned()).collect();
        assert_eq!(shas.len(), 8);
    }
}
