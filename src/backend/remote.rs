//! A profile's `[[remote]]` as one backend type, whatever its kind, so that sync,
//! check and restore work on every remote alike.

use super::{
    AdminBackend, BackendResult, Credential, LocalBackend, ObjectInfo, ReadBackend, SftpBackend,
    WriteBackend, WriteOutcome,
};
use crate::profile::{Remote, RemoteKind};

/// The backend of one remote.
#[derive(Debug)]
pub enum RemoteBackend {
    /// `type = "local"`: a directory on this machine.
    Local(LocalBackend),
    /// `type = "sftp"`: an account on a backup server.
    Sftp(Box<SftpBackend>),
}

/// Opens (connects to) a remote. `credential` picks the SFTP key; local remotes
/// ignore it (the file permissions decide).
pub fn open_remote(remote: &Remote, credential: Credential) -> BackendResult<RemoteBackend> {
    match &remote.kind {
        RemoteKind::Local(l) => Ok(RemoteBackend::Local(LocalBackend::open(&l.path)?)),
        RemoteKind::Sftp(s) => Ok(RemoteBackend::Sftp(Box::new(SftpBackend::connect(
            &remote.name,
            s,
            credential,
        )?))),
    }
}

impl RemoteBackend {
    fn inner(&self) -> &dyn AdminBackend {
        match self {
            RemoteBackend::Local(b) => b,
            RemoteBackend::Sftp(b) => b.as_ref(),
        }
    }
}

impl ReadBackend for RemoteBackend {
    fn describe(&self) -> String {
        self.inner().describe()
    }
    fn read(&self, name: &str) -> BackendResult<Vec<u8>> {
        self.inner().read(name)
    }
    fn read_range(&self, name: &str, offset: u64, len: u64) -> BackendResult<Vec<u8>> {
        self.inner().read_range(name, offset, len)
    }
    fn list(&self, dir: &str) -> BackendResult<Vec<ObjectInfo>> {
        self.inner().list(dir)
    }
    fn stat(&self, name: &str) -> BackendResult<Option<ObjectInfo>> {
        self.inner().stat(name)
    }
}

impl WriteBackend for RemoteBackend {
    fn write_if_absent(&self, name: &str, data: &[u8]) -> BackendResult<WriteOutcome> {
        self.inner().write_if_absent(name, data)
    }
}

impl AdminBackend for RemoteBackend {
    fn delete(&self, name: &str) -> BackendResult<()> {
        self.inner().delete(name)
    }
}
