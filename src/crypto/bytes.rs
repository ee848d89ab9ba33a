//! Bounds-checked parsing of the byte formats in this module.
//!
//! All offset arithmetic of the parsers goes through [`ByteReader`], so a short
//! or hostile input becomes a [`CryptoError::TooShort`] instead of a panic.

use super::error::CryptoError;

/// Bounds-checked cursor over a byte slice; every short read becomes
/// [`CryptoError::TooShort`] naming the format.
pub(crate) struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
    format: &'static str,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(buf: &'a [u8], format: &'static str) -> Self {
        Self {
            buf,
            pos: 0,
            format,
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CryptoError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(CryptoError::TooShort {
                format: self.format,
                needed: self.pos.saturating_add(n),
                found: self.buf.len(),
            })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CryptoError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, CryptoError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, CryptoError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Everything not yet consumed.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// Fails if bytes remain.
    pub(crate) fn finish(&self) -> Result<(), CryptoError> {
        let extra = self.buf.len() - self.pos;
        if extra == 0 {
            Ok(())
        } else {
            Err(CryptoError::TrailingBytes {
                format: self.format,
                extra,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_reader_bounds() {
        let mut r = ByteReader::new(&[1, 0, 2, 9], "t");
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16().unwrap(), 2);
        assert!(matches!(
            r.finish(),
            Err(CryptoError::TrailingBytes { extra: 1, .. })
        ));
        assert!(matches!(
            r.take(2),
            Err(CryptoError::TooShort {
                needed: 5,
                found: 4,
                ..
            })
        ));
        assert_eq!(r.rest(), &[9]);
        r.finish().unwrap();
        assert!(matches!(r.u32(), Err(CryptoError::TooShort { .. })));
    }
}
