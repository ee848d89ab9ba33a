//! Validation of the names a profile contains: vault and remote names, OS user and
//! group names, SSH users, host names, drive letters.

use std::net::IpAddr;

/// Longest vault or remote name.
pub const MAX_NAME_LEN: usize = 63;

/// Vault and remote names: 1..=63 of `a-z`, `0-9`, `-`, starting with a letter or
/// digit. They appear in paths, unit names and share names, hence the narrow set.
pub fn is_valid_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    (1..=MAX_NAME_LEN).contains(&name.len()) && name.chars().all(allowed) && !name.starts_with('-')
}

/// OS user or group names (Linux or Windows): 1..=256 bytes, no control characters,
/// no surrounding spaces, none of `: / , "` and not starting with `-`. Deliberately
/// loose because Windows allows spaces and domain prefixes (`CORP\tanaka`).
pub fn is_valid_os_name(name: &str) -> bool {
    (1..=256).contains(&name.len())
        && name.trim() == name
        && !name.starts_with('-')
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, ':' | '/' | ',' | '"'))
}

/// SSH login names: 1..=64 of ASCII letters, digits, `.`, `_`, `-`, not starting with `-`.
pub fn is_valid_ssh_user(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// An IP address or an RFC 1123 host name.
pub fn is_valid_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    // All-numeric dotted names that are not IPs (e.g. 999.1.1.1) are typos.
    let numeric = name.chars().all(|c| c.is_ascii_digit() || c == '.');
    (1..=253).contains(&name.len()) && !numeric && name.split('.').all(label_ok)
}

/// A Windows drive letter like `V:`, returned upper-case.
pub fn parse_drive(text: &str) -> Option<String> {
    match text.as_bytes() {
        [letter, b':'] if letter.is_ascii_alphabetic() => {
            Some(format!("{}:", letter.to_ascii_uppercase() as char))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_names() {
        for good in ["soumu", "demo", "a", "0", "keiri-2", &"a".repeat(63)] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "-x", "Soumu", "so_mu", "so mu", "総務", &"a".repeat(64)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn os_names() {
        for good in ["root", "tanaka", "CORP\\tanaka", "Taro Yamada", "user.name"] {
            assert!(is_valid_os_name(good), "{good}");
        }
        for bad in ["", " root", "root ", "-x", "a:b", "a/b", "a,b", "a\nb"] {
            assert!(!is_valid_os_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn ssh_users_and_hosts() {
        assert!(is_valid_ssh_user("bcp-soumu"));
        assert!(!is_valid_ssh_user("bcp soumu"));
        assert!(!is_valid_ssh_user("a@b"));
        assert!(!is_valid_ssh_user("-oProxyCommand"));
        for good in [
            "203.0.113.10",
            "::1",
            "backup.example.com",
            "localhost",
            "dc1.",
            "a-b.c",
        ] {
            assert!(is_valid_host(good), "{good}");
        }
        for bad in [
            "",
            "bad host",
            "-x.com",
            "x-.com",
            "a..b",
            "999.1.1.1",
            "host:22",
            "[::1]",
        ] {
            assert!(!is_valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn drive_letters() {
        assert_eq!(parse_drive("V:").as_deref(), Some("V:"));
        assert_eq!(parse_drive("v:").as_deref(), Some("V:"));
        for bad in ["V", "VV:", "1:", "V:\\", ""] {
            assert_eq!(parse_drive(bad), None, "{bad}");
        }
    }
}
