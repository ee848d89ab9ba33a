//! OS account names → uids, for the profile's `readers` list.
//!
//! Read from `/etc/passwd` directly (no NSS call, so no `unsafe`); accounts that
//! exist only in LDAP/SSSD must be given as numeric uids.

use std::collections::HashSet;

/// Resolves names (or numeric uids) to uids using the text of `/etc/passwd`.
/// Returns the uids and the names that matched nothing.
pub fn resolve_in(passwd: &str, names: &[String]) -> (HashSet<u32>, Vec<String>) {
    let mut uids = HashSet::new();
    let mut unknown = Vec::new();
    for name in names {
        if let Ok(uid) = name.parse::<u32>() {
            uids.insert(uid);
            continue;
        }
        let found = passwd.lines().find_map(|line| {
            let mut f = line.split(':');
            let user = f.next()?;
            let uid = f.nth(1)?.parse::<u32>().ok()?;
            (user == name).then_some(uid)
        });
        match found {
            Some(uid) => {
                uids.insert(uid);
            }
            None => unknown.push(name.clone()),
        }
    }
    (uids, unknown)
}

/// Resolves names against this machine's `/etc/passwd`.
pub fn resolve(names: &[String]) -> (HashSet<u32>, Vec<String>) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    resolve_in(&passwd, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_resolve_and_unknown_names_are_reported() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\ntanaka:x:1001:1001::/home/tanaka:/bin/sh\n";
        let names = vec![
            "tanaka".to_string(),
            "2000".to_string(),
            "nobody-here".to_string(),
        ];
        let (uids, unknown) = resolve_in(passwd, &names);
        assert_eq!(uids, HashSet::from([1001, 2000]));
        assert_eq!(unknown, vec!["nobody-here".to_string()]);
    }
}
