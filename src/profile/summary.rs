//! The human summary `bcpvault profile check` prints for a valid profile.

use chrono::{DateTime, Utc};

use super::duration::HumanDuration;
use super::remote::RemoteKind;
use super::size::Size;
use super::{Profile, TimezoneSource};

pub(crate) fn render(p: &Profile, now: DateTime<Utc>) -> String {
    let mut lines = vec![format!("profile {} ({})", p.name, p.origin.display())];
    let mut row = |label: &str, value: String| lines.push(format!("  {label:<11} {value}"));
    row("store", p.store.display().to_string());
    if let Some(m) = &p.mountpoint {
        row("mountpoint", m.display().to_string());
    }
    if let Some(d) = &p.drive {
        row("drive", d.clone());
    }
    row(
        "quota",
        p.quota.map_or("unlimited".into(), |q| Size(q).to_string()),
    );
    row("unlock ttl", HumanDuration(p.unlock_ttl).to_string());
    if !p.readers.is_empty() {
        row("readers", p.readers.join(", "));
    }
    for source in &p.sources {
        row("source", source.display().to_string());
    }
    let tz_note = match p.timezone_source {
        TimezoneSource::Profile => String::new(),
        other => format!(" ({other})"),
    };
    row("time zone", format!("{}{tz_note}", p.timezone.name()));
    if p.remotes.is_empty() {
        row("remote", "none".into());
    }
    for r in &p.remotes {
        let target = match &r.kind {
            RemoteKind::Sftp(s) => format!("sftp {}@{}:{} {}", s.user, s.host, s.port, s.path),
            RemoteKind::Local(l) => format!("local {}", l.path.display()),
        };
        row("remote", format!("{}: {target}", r.name));
    }
    if p.schedule.is_empty() {
        row("schedule", "none (sync runs only on demand)".into());
    }
    for s in &p.schedule {
        let next = match s.next_after(now, p.timezone) {
            Some(t) => format!(
                "next {}",
                t.with_timezone(&p.timezone).format("%Y-%m-%d %H:%M %Z")
            ),
            None => "no further run".into(),
        };
        row("schedule", format!("{s} ({next})"));
    }
    let retention: Vec<String> = [
        ("daily", p.retention.keep_daily),
        ("weekly", p.retention.keep_weekly),
        ("monthly", p.retention.keep_monthly),
        ("last", p.retention.keep_last),
    ]
    .iter()
    .filter_map(|(label, n)| n.map(|n| format!("{label} {n}")))
    .collect();
    if !retention.is_empty() {
        row("retention", retention.join(", "));
    }
    lines.join("\n")
}
