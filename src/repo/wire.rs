//! Bounds-checked encoding helpers shared by the repository formats.
//!
//! Every parser in `repo` reads through [`Wire`], so hostile bytes become
//! [`FormatError`]s naming the format and offset, never panics or huge allocations.

/// A malformed repository object: which format, where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{format}: {problem} (at byte {offset})")]
pub struct FormatError {
    /// Format being parsed (`pack trailer`, `tree`, `snapshot`, …).
    pub format: &'static str,
    /// Byte offset where parsing stopped.
    pub offset: usize,
    /// What was wrong.
    pub problem: String,
}

/// Cursor over a byte slice.
pub struct Wire<'a> {
    buf: &'a [u8],
    pos: usize,
    format: &'static str,
}

impl<'a> Wire<'a> {
    /// Starts reading `buf` as `format`.
    pub fn new(buf: &'a [u8], format: &'static str) -> Wire<'a> {
        Wire {
            buf,
            pos: 0,
            format,
        }
    }

    /// An error at the current offset.
    pub fn error(&self, problem: impl Into<String>) -> FormatError {
        FormatError {
            format: self.format,
            offset: self.pos,
            problem: problem.into(),
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.buf.len() => {
                let out = &self.buf[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            _ => Err(self.error(format!(
                "truncated: {n} more bytes needed, {} left",
                self.buf.len() - self.pos
            ))),
        }
    }

    /// Exactly `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }

    /// Big-endian u16.
    pub fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Big-endian u32.
    pub fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Big-endian u64.
    pub fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Big-endian i64.
    pub fn i64(&mut self) -> Result<i64, FormatError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// A magic string that must match.
    pub fn magic(&mut self, magic: &[u8]) -> Result<(), FormatError> {
        let at = self.pos;
        if self.take(magic.len())? != magic {
            return Err(FormatError {
                format: self.format,
                offset: at,
                problem: format!("magic {:?} missing", String::from_utf8_lossy(magic)),
            });
        }
        Ok(())
    }

    /// A version byte that must equal `expected`.
    pub fn version(&mut self, expected: u8) -> Result<(), FormatError> {
        let v = self.u8()?;
        if v != expected {
            return Err(self.error(format!(
                "version {v} is not supported (expected {expected})"
            )));
        }
        Ok(())
    }

    /// A count that must not exceed `max` and whose items, each at least
    /// `min_item` bytes, must fit in what is left (so no hostile pre-allocation).
    pub fn count(&mut self, max: usize, min_item: usize) -> Result<usize, FormatError> {
        let n = self.u32()? as usize;
        if n > max || n.saturating_mul(min_item) > self.remaining() {
            return Err(self.error(format!("count {n} is impossible here")));
        }
        Ok(n)
    }

    /// A u16-length-prefixed byte string.
    pub fn bytes16(&mut self) -> Result<&'a [u8], FormatError> {
        let n = self.u16()? as usize;
        self.take(n)
    }

    /// A u32-length-prefixed byte string.
    pub fn bytes32(&mut self) -> Result<&'a [u8], FormatError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Current offset.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Fails unless everything was read.
    pub fn finish(&self) -> Result<(), FormatError> {
        if self.remaining() != 0 {
            return Err(self.error(format!("{} unexpected trailing bytes", self.remaining())));
        }
        Ok(())
    }
}

/// Appends a u16-length-prefixed byte string; `None` if it is too long.
pub fn put_bytes16(out: &mut Vec<u8>, b: &[u8]) -> Option<()> {
    let n = u16::try_from(b.len()).ok()?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(b);
    Some(())
}

/// Appends a u32-length-prefixed byte string.
pub fn put_bytes32(out: &mut Vec<u8>, b: &[u8]) {
    // Callers hold these in memory; none reaches 4 GiB.
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}
