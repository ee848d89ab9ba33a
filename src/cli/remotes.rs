//! Helpers for commands that work on one of the profile's remotes: finding it by
//! name, opening it, and fetching the recovery bundle it holds.

use anyhow::{Result, bail};

use bcpvault::backend::{Credential, ReadBackend, RemoteBackend, open_remote};
use bcpvault::keys::{KeyFiles, RecoveryBundle};
use bcpvault::profile::{Profile, Remote};
use bcpvault::repo::config::RepoConfig;

/// The remote called `name` in `profile`.
pub fn find_remote<'p>(profile: &'p Profile, name: &str) -> Result<&'p Remote> {
    match profile.remotes.iter().find(|r| r.name == name) {
        Some(r) => Ok(r),
        None if profile.remotes.is_empty() => bail!(
            "{}: no remote {name}: the profile has no [[remote]] table",
            profile.origin.display()
        ),
        None => bail!(
            "{}: no remote {name} (remotes: {})",
            profile.origin.display(),
            profile
                .remotes
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Opens a remote with the given credential.
pub fn open(remote: &Remote, credential: Credential) -> Result<RemoteBackend> {
    Ok(open_remote(remote, credential)?)
}

/// The newest recovery bundle on a remote (`keys/recovery` and
/// `keys/recovery-g<N>`), checked against the remote's `config`.
pub fn remote_bundle(backend: &dyn ReadBackend) -> Result<RecoveryBundle> {
    let mut best: Option<RecoveryBundle> = None;
    for info in backend.list("keys")? {
        let bytes = backend.read(&info.name)?;
        let what = format!("{} on {}", info.name, backend.describe());
        let bundle = RecoveryBundle::from_bytes(&bytes, &what)?;
        if best
            .as_ref()
            .is_none_or(|b| bundle.generation > b.generation)
        {
            best = Some(bundle);
        }
    }
    let Some(bundle) = best else {
        bail!(
            "{} holds no recovery bundle (keys/recovery): was it ever synced? Import an escrow copy instead (bcpvault escrow import)",
            backend.describe()
        );
    };
    let config = RepoConfig::from_bytes(&backend.read("config")?)
        .map_err(|e| anyhow::anyhow!("config on {}: {e}", backend.describe()))?;
    if config.vault_id != bundle.vault_id || config.fingerprint != bundle.fingerprint() {
        bail!(
            "config on {} describes another vault or key than its keys/recovery; refusing",
            backend.describe()
        );
    }
    Ok(bundle)
}

/// The bundle of the local store when there is one, else the remote's.
pub fn bundle_for(profile: &Profile, backend: &dyn ReadBackend) -> Result<RecoveryBundle> {
    let files = KeyFiles::new(&profile.store);
    if files.exists() {
        Ok(files.load_bundle()?)
    } else {
        remote_bundle(backend)
    }
}
