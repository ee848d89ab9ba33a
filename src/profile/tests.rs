use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};

use super::*;

fn parse(text: &str) -> Result<Profile, ProfileError> {
    Profile::from_str_at(text, Path::new("/etc/bcpvault/p.toml"))
}

fn err(text: &str) -> String {
    match parse(text) {
        Ok(p) => panic!("accepted: {p:?}"),
        Err(e) => e.to_string(),
    }
}

const MINIMAL: &str = "name = \"m\"\nstore = \"/s\"\n";

#[test]
fn demo_parses_with_its_documented_values() {
    let demo = Profile::demo();
    assert_eq!(demo.origin, PathBuf::from("mount-profiles/demo.toml"));
    assert_eq!(demo.name, "demo");
    assert_eq!(demo.quota, Some(2 * GIB));
    assert_eq!(demo.schedule, vec![Schedule::parse("every 15m").unwrap()]);
    assert!(
        matches!(&demo.remotes[0].kind, RemoteKind::Local(l) if l.path == Path::new("/var/tmp/bcpvault-demo/remote"))
    );
}

#[test]
fn defaults_apply() {
    let p = parse(MINIMAL).unwrap();
    assert_eq!(p.unlock_ttl, DEFAULT_UNLOCK_TTL);
    assert_eq!(
        p.kdf_params(),
        KdfSettings {
            memory_kib: 65536,
            iterations: 3,
            parallelism: 1
        }
    );
    assert_eq!(
        p.repository,
        RepositorySettings {
            compression_level: 3,
            pack_size: 16 * MIB
        }
    );
    assert_eq!(
        p.mount,
        MountSettings {
            staging_memory: 64 * MIB,
            control_group: None,
            allow_other: false
        }
    );
    assert!(p.retention.is_empty());
    assert!(p.remotes.is_empty() && p.schedule.is_empty() && p.readers.is_empty());
    assert_eq!(p.mountpoint, None);
    assert_ne!(p.timezone_source, TimezoneSource::Profile);
}

#[test]
fn relative_paths_resolve_against_the_profile_directory() {
    let text = "name = \"m\"\nstore = \"store\"\nmountpoint = \"../mnt\"\nsources = [\"/abs\", \"rel/dir\"]\n\
                [[remote]]\nname = \"r\"\ntype = \"local\"\npath = \"remote\"\n";
    let p = parse(text).unwrap();
    assert_eq!(p.store, PathBuf::from("/etc/bcpvault/store"));
    assert_eq!(p.mountpoint, Some(PathBuf::from("/etc/bcpvault/../mnt")));
    assert_eq!(
        p.sources,
        vec![
            PathBuf::from("/abs"),
            PathBuf::from("/etc/bcpvault/rel/dir")
        ]
    );
    assert!(
        matches!(&p.remotes[0].kind, RemoteKind::Local(l) if l.path == Path::new("/etc/bcpvault/remote"))
    );
    // A bare file name has an empty directory: paths stay relative to the cwd.
    let p = Profile::from_str_at(MINIMAL.replace("/s", "s").as_str(), Path::new("p.toml")).unwrap();
    assert_eq!(p.store, PathBuf::from("s"));
}

#[test]
fn mountpoint_must_not_overlap_store() {
    let text = "name = \"m\"\nstore = \"/s\"\nmountpoint = \"/s/./mnt\"\n";
    assert_eq!(
        err(text),
        "/etc/bcpvault/p.toml: key `mountpoint`: value \"/s/./mnt\": expected a directory outside `store` that does not contain it"
    );
    assert!(
        err("name = \"m\"\nstore = \"/a/b\"\nmountpoint = \"/a\"\n").contains("key `mountpoint`")
    );
    assert!(parse("name = \"m\"\nstore = \"/a/b\"\nmountpoint = \"/a/bc\"\n").is_ok());
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let e = err("name = \"m\"\nstore = \"/s\"\nquota = \n");
    assert!(
        e.starts_with("/etc/bcpvault/p.toml: line 3, column 9: "),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
    let e = err("name = \"総務\" x\n");
    assert!(
        e.starts_with("/etc/bcpvault/p.toml: line 1, column 13: "),
        "{e}"
    );
}

#[test]
fn sizes_accept_integers_and_strings() {
    let p = parse(&format!("{MINIMAL}quota = 1073741824\n")).unwrap();
    assert_eq!(p.quota, Some(GIB));
    let p = parse(&format!("{MINIMAL}quota = \"1 TB\"\n")).unwrap();
    assert_eq!(p.quota, Some(1_000_000_000_000));
    assert_eq!(
        err(&format!("{MINIMAL}quota = \"1024\"\n")),
        "/etc/bcpvault/p.toml: key `quota`: value \"1024\": expected a size of at least 1 MiB like \"5 GiB\", \"500 MiB\" or \"2 GB\""
    );
}

#[test]
fn kdf_and_repository_ranges() {
    let p = parse(&format!(
        "{MINIMAL}[kdf]\nmemory = \"1 MiB\"\niterations = 1\nparallelism = 2\n"
    ))
    .unwrap();
    assert_eq!(
        p.kdf_params(),
        KdfSettings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 2
        }
    );
    let p = parse(&format!("{MINIMAL}[kdf]\nmemory = \"4 GiB\"\n")).unwrap();
    assert_eq!(p.kdf.memory_kib, 4 * 1024 * 1024);
    assert!(
        err(&format!("{MINIMAL}[kdf]\nmemory = \"5 GiB\"\n"))
            .contains("key `kdf.memory`: value \"5 GiB\"")
    );
    assert!(err(&format!("{MINIMAL}[kdf]\nmemory = 1048577\n")).contains("a whole number of KiB"));
    assert!(
        err(&format!("{MINIMAL}[kdf]\niterations = 0\n"))
            .ends_with("expected an integer from 1 to 100")
    );
    assert!(
        err(&format!("{MINIMAL}[kdf]\nparallelism = 65\n"))
            .ends_with("expected an integer from 1 to 64")
    );
    assert!(
        err(&format!("{MINIMAL}[repository]\ncompression_level = 20\n")).ends_with("from 1 to 19")
    );
    assert!(
        err(&format!("{MINIMAL}[repository]\npack_size = \"512 MiB\"\n"))
            .contains("from 1 MiB to 256 MiB")
    );
    assert!(
        err(&format!("{MINIMAL}[mount]\nallow_other = \"yes\"\n"))
            .ends_with("expected true or false")
    );
    assert!(err(&format!("{MINIMAL}kdf = 3\n")).ends_with("key `kdf`: value 3: expected a table"));
}

#[test]
fn type_specific_remote_keys() {
    let text = format!(
        "{MINIMAL}[[remote]]\nname = \"u\"\ntype = \"local\"\npath = \"/x\"\nhost = \"h\"\n"
    );
    assert_eq!(
        err(&text),
        "/etc/bcpvault/p.toml: key `remote[0].host`: unknown key: expected one of name, type, path"
    );
    let text = format!("{MINIMAL}[[remote]]\nname = \"u\"\npath = \"/x\"\n");
    assert_eq!(
        err(&text),
        "/etc/bcpvault/p.toml: key `remote[0].type`: missing: expected \"sftp\" or \"local\""
    );
    let text = format!("{MINIMAL}[remote]\nname = \"u\"\n");
    assert!(err(&text).ends_with(
        "key `remote`: value { name = \"u\" }: expected an array of tables ([[remote]])"
    ));
}

#[test]
fn duplicate_readers_are_rejected() {
    let e = err(&format!("{MINIMAL}readers = [\"a\", \"b\", \"a\"]\n"));
    assert_eq!(
        e,
        "/etc/bcpvault/p.toml: key `readers[2]`: value \"a\": duplicate, already used by `readers[0]`"
    );
}

#[test]
fn summary_lists_the_essentials() {
    let text = format!(
        "{MINIMAL}timezone = \"Asia/Tokyo\"\nschedule = [\"daily 02:00\", \"once 2020-01-01 00:00\"]\n\
         [[remote]]\nname = \"usb\"\ntype = \"local\"\npath = \"/media/b\"\n[retention]\nkeep_daily = 7\n"
    );
    let p = parse(&text).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
    let summary = p.summary_at(now);
    let want = "\
profile m (/etc/bcpvault/p.toml)
  store       /s
  quota       unlimited
  unlock ttl  24h
  time zone   Asia/Tokyo
  remote      usb: local /media/b
  schedule    daily 02:00 (next 2026-03-11 02:00 JST)
  schedule    once 2020-01-01 00:00 (no further run)
  retention   daily 7";
    assert_eq!(summary, want);
}

#[test]
fn next_and_missed_runs_use_the_profile_zone() {
    let p = parse(&format!(
        "{MINIMAL}timezone = \"Asia/Tokyo\"\nschedule = [\"daily 02:00\"]\n"
    ))
    .unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
    assert_eq!(
        p.next_run(now),
        Some(Utc.with_ymd_and_hms(2026, 3, 10, 17, 0, 0).unwrap())
    );
    let last = Utc.with_ymd_and_hms(2026, 3, 8, 17, 0, 0).unwrap();
    assert!(p.missed_run(Some(last), now));
    assert!(!p.missed_run(
        Some(Utc.with_ymd_and_hms(2026, 3, 9, 17, 0, 0).unwrap()),
        now
    ));
}

#[test]
fn from_str_uses_a_placeholder_origin() {
    let e = "name = 5".parse::<Profile>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "<profile>: key `name`: value 5: expected a vault name of 1 to 63 characters a-z, 0-9 and '-', starting with a letter or digit"
    );
    assert_eq!(e.key(), Some("name"));
}
