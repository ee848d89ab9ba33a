//! Repository engine (filled by the repository work).
