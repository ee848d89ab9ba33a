//! Windows callers → the uids [`crate::vfs::VaultFs`] checks.
//!
//! The vault decides who may read the unlocked view by uid (the profile's
//! `readers`). Windows callers are SIDs. On Windows a `readers` entry is written
//! as a SID string (`S-1-5-21-…-1104`, from `whoami /user`); each such entry gets
//! a uid of its own from a reserved range, and every other caller gets
//! [`OTHER_UID`], which is never a reader. Whole SIDs are compared, not their
//! last number, because a local account and a domain account can share it.

use std::collections::{HashMap, HashSet};

/// First uid handed to reader SIDs; high enough not to meet real Unix uids.
pub const SID_UID_BASE: u32 = 0xFFF0_0000;
/// The uid of every Windows caller that is not a listed reader.
pub const OTHER_UID: u32 = u32::MAX - 2;

/// Reader SIDs and their uids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SidMap {
    uids: HashMap<String, u32>,
}

impl SidMap {
    /// Builds the map from the profile's `readers`. Entries that are not SID
    /// strings (account names, Unix uids) are returned for the caller to warn
    /// about: resolving Windows account names is not done here.
    pub fn from_readers(readers: &[String]) -> (SidMap, Vec<String>) {
        let mut uids = HashMap::new();
        let mut unknown = Vec::new();
        for r in readers {
            match normalize(r) {
                Some(sid) => {
                    let next = SID_UID_BASE + uids.len() as u32;
                    uids.entry(sid).or_insert(next);
                }
                None => unknown.push(r.clone()),
            }
        }
        (SidMap { uids }, unknown)
    }

    /// The uids of the reader SIDs, to add to the vault's `readers`.
    pub fn reader_uids(&self) -> HashSet<u32> {
        self.uids.values().copied().collect()
    }

    /// The uid the vault sees for a caller with SID string `sid`.
    pub fn uid_of(&self, sid: &str) -> u32 {
        normalize(sid)
            .and_then(|s| self.uids.get(&s).copied())
            .unwrap_or(OTHER_UID)
    }
}

/// `S-1-…` with decimal fields, upper-cased prefix; `None` if not a SID string.
fn normalize(s: &str) -> Option<String> {
    let s = s.trim();
    let rest = s.strip_prefix("S-").or_else(|| s.strip_prefix("s-"))?;
    let fields: Vec<&str> = rest.split('-').collect();
    // Revision, authority, and at least one sub-authority.
    if fields.len() < 3 {
        return None;
    }
    let all_numeric = fields.iter().all(|f| {
        let hex = f.strip_prefix("0x").or_else(|| f.strip_prefix("0X"));
        match hex {
            Some(h) => !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()),
            None => !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()),
        }
    });
    all_numeric.then(|| format!("S-{}", rest.to_ascii_uppercase().replace("0X", "0x")))
}

/// The string form of a binary SID (as `GetTokenInformation(TokenUser)` returns
/// it): `S-<revision>-<authority>-<sub>-…`, the authority in hex when it does not
/// fit 32 bits, as `ConvertSidToStringSid` writes it. `None` if `raw` is not a
/// whole SID.
pub fn sid_string(raw: &[u8]) -> Option<String> {
    let (&revision, rest) = raw.split_first()?;
    let (&count, rest) = rest.split_first()?;
    let authority = rest.get(..6)?;
    let subs = rest.get(6..6 + 4 * count as usize)?;
    let auth = authority
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let mut out = if auth >> 32 == 0 {
        format!("S-{revision}-{auth}")
    } else {
        format!("S-{revision}-0x{auth:012X}")
    };
    for sub in subs.chunks_exact(4) {
        let v = u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]]);
        out.push_str(&format!("-{v}"));
    }
    Some(out)
}

/// Length in bytes of the binary SID starting at `raw` (8 + 4 per sub-authority),
/// from its header; `None` if the header is cut off.
pub fn sid_len(raw: &[u8]) -> Option<usize> {
    raw.get(1).map(|&count| 8 + 4 * count as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sids_print_as_windows_does() {
        // BUILTIN\Administrators.
        let admins = [1u8, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0];
        assert_eq!(sid_len(&admins), Some(16));
        assert_eq!(sid_string(&admins).as_deref(), Some("S-1-5-32-544"));
        // A domain user: S-1-5-21-3623811015-3361044348-30300820-1013.
        let mut user = vec![1u8, 5, 0, 0, 0, 0, 0, 5];
        for v in [21u32, 3_623_811_015, 3_361_044_348, 30_300_820, 1013] {
            user.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(
            sid_string(&user).as_deref(),
            Some("S-1-5-21-3623811015-3361044348-30300820-1013")
        );
        // A cut-off SID is not read past its end.
        assert_eq!(sid_string(&user[..user.len() - 1]), None);
        // An authority above 32 bits is printed in hex.
        let big = [1u8, 1, 0, 1, 0, 0, 0, 0, 7, 0, 0, 0];
        assert_eq!(sid_string(&big).as_deref(), Some("S-1-0x000100000000-7"));
    }

    #[test]
    fn reader_sids_get_their_own_uids_and_others_do_not_read() {
        let readers = vec![
            "S-1-5-21-1-2-3-1104".to_string(),
            "s-1-5-21-1-2-3-1105".to_string(),
            "tanaka".to_string(),
            "1001".to_string(),
        ];
        let (map, unknown) = SidMap::from_readers(&readers);
        assert_eq!(unknown, vec!["tanaka".to_string(), "1001".to_string()]);
        let a = map.uid_of("S-1-5-21-1-2-3-1104");
        let b = map.uid_of("S-1-5-21-1-2-3-1105");
        assert_ne!(a, b);
        assert_eq!(map.reader_uids(), HashSet::from([a, b]));
        assert!(a >= SID_UID_BASE && b >= SID_UID_BASE);
        // Same last number, other domain: not a reader.
        assert_eq!(map.uid_of("S-1-5-21-9-9-9-1104"), OTHER_UID);
        assert_eq!(map.uid_of("garbage"), OTHER_UID);
        assert!(!map.reader_uids().contains(&OTHER_UID));
    }

    #[test]
    fn a_sid_listed_twice_keeps_one_uid() {
        let readers = vec!["S-1-5-32-544".to_string(), " S-1-5-32-544 ".to_string()];
        let (map, unknown) = SidMap::from_readers(&readers);
        assert!(unknown.is_empty());
        assert_eq!(map.reader_uids().len(), 1);
    }

    #[test]
    fn malformed_sid_strings_are_not_sids() {
        for bad in ["S-1", "S-1-5", "S-1-x-3", "S--5-3", "1-5-32-544"] {
            let (map, unknown) = SidMap::from_readers(&[bad.to_string()]);
            assert_eq!(unknown.len(), 1, "{bad}");
            assert!(map.reader_uids().is_empty());
        }
    }
}
