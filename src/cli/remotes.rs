//! Helpers for commands that work on one of the profile's remotes: finding it by
//! name, opening it, and fetching the recovery bundle it holds.

use anyhow::Result;

use bcpvault::backend::{Credential, ReadBackend, RemoteBackend, open_remote};
use bcpvault::keys::{KeyFiles, RecoveryBundle};
use bcpvault::profile::{Profile, Remote};

/// The remote called `name` in `profile`.
pub fn find_remote<'p>(profile: &'p Profile, name: &str) -> Result<&'p Remote> {
    Ok(bcpvault::daemon::recover::pick_remote(profile, Some(name))?)
}

/// Opens a remote with the given credential.
pub fn open(remote: &Remote, credential: Credential) -> Result<RemoteBackend> {
    Ok(open_remote(remote, credential)?)
}

/// The newest recovery bundle on a remote (`keys/recovery` and
/// `keys/recovery-g<N>`), checked against the remote's `config`.
pub fn remote_bundle(backend: &dyn ReadBackend) -> Result<RecoveryBundle> {
    Ok(bcpvault::daemon::recover::fetch_bundle(backend)?)
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
