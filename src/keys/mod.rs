//! Keys: ceremony, recovery bundle, escrow, unlock.
