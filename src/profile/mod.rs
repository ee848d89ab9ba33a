//! Vault profiles (filled by the profile work).
