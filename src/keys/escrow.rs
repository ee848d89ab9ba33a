//! Escrow copies of the recovery bundle: the binary file as is, and a printable
//! text form that can be typed back in from paper.
//!
//! Text form (docs/format.md §8):
//! ```text
//! BCPVAULT RECOVERY BUNDLE v1
//! vault: soumu
//! vault-id: <32 hex>
//! generation: 1
//! fingerprint: SHA256:ab12 cd34 …
//! executives: 2 of alice, bob, carol
//! bytes: 2345
//! sha256: <64 hex>
//! 0001 0a1b2c3d 4e5f6071 8293a4b5 c6d7e8f9 0a1b2c3d 4e5f6071 8293a4b5 c6d7e8f9 a1b2
//! …
//! END
//! ```
//! Each data line holds 32 bytes as eight groups of 8 hex digits (the last line may be
//! shorter) and ends with a 4-hex-digit check: the first two bytes of
//! SHA-256(line number as u32 BE ‖ line bytes). A typo is reported with its line.

use sha2::{Digest, Sha256};

use super::{KeysError, RecoveryBundle, format_fingerprint};

const TITLE: &str = "BCPVAULT RECOVERY BUNDLE v1";
const BYTES_PER_LINE: usize = 32;

/// File names of the two escrow copies for a vault.
pub fn escrow_file_names(vault: &str, generation: u32) -> (String, String) {
    (
        format!("{vault}-recovery-g{generation}.bin"),
        format!("{vault}-recovery-g{generation}.txt"),
    )
}

/// The printable escrow form.
pub struct EscrowText;

fn line_check(number: u32, data: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(number.to_be_bytes())
        .chain_update(data)
        .finalize();
    hex::encode(&digest[..2])
}

impl EscrowText {
    /// Renders a bundle as printable text.
    pub fn render(bundle: &RecoveryBundle) -> String {
        let bytes = bundle.to_bytes();
        let mut out = String::new();
        out.push_str(TITLE);
        out.push('\n');
        out.push_str(&format!("vault: {}\n", bundle.vault_name));
        out.push_str(&format!("vault-id: {}\n", hex::encode(bundle.vault_id)));
        out.push_str(&format!("generation: {}\n", bundle.generation));
        out.push_str(&format!(
            "fingerprint: {}\n",
            format_fingerprint(&bundle.fingerprint())
        ));
        out.push_str(&format!(
            "executives: {} of {}\n",
            bundle.threshold,
            bundle.executive_names().join(", ")
        ));
        out.push_str(&format!("bytes: {}\n", bytes.len()));
        out.push_str(&format!(
            "sha256: {}\n",
            hex::encode(Sha256::digest(&bytes))
        ));
        for (i, chunk) in bytes.chunks(BYTES_PER_LINE).enumerate() {
            let number = i as u32 + 1;
            let groups: Vec<String> = chunk.chunks(4).map(hex::encode).collect();
            out.push_str(&format!(
                "{number:04} {} {}\n",
                groups.join(" "),
                line_check(number, chunk)
            ));
        }
        out.push_str("END\n");
        out
    }

    /// Parses the text form back into a bundle. `what` names the source in errors.
    /// Blank lines, extra spaces and upper-case hex are accepted.
    pub fn parse(text: &str, what: &str) -> Result<RecoveryBundle, KeysError> {
        let err = |line: usize, problem: String| {
            KeysError::malformed(what, format!("line {line}: {problem}"))
        };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        match lines.find(|(_, l)| !l.is_empty()) {
            Some((_, l)) if l == TITLE => {}
            Some((n, l)) => return Err(err(n, format!("expected {TITLE:?}, found {l:?}"))),
            None => return Err(KeysError::malformed(what, "empty file")),
        }
        let mut expected_len: Option<usize> = None;
        let mut expected_sum: Option<Vec<u8>> = None;
        let mut bytes = Vec::new();
        let mut next_number = 1u32;
        let mut ended = false;
        for (n, line) in lines {
            if line.is_empty() {
                continue;
            }
            if line == "END" {
                ended = true;
                break;
            }
            if let Some((key, value)) = line.split_once(':') {
                let value = value.trim();
                match key.trim() {
                    "bytes" => {
                        expected_len = Some(
                            value
                                .parse()
                                .map_err(|_| err(n, format!("bytes: {value:?} is not a number")))?,
                        )
                    }
                    "sha256" => {
                        expected_sum = Some(
                            hex::decode(value)
                                .map_err(|_| err(n, format!("sha256: {value:?} is not hex")))?,
                        )
                    }
                    _ => {}
                }
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 3 {
                return Err(err(
                    n,
                    "expected a line number, data groups and a check".into(),
                ));
            }
            let number: u32 = fields[0]
                .parse()
                .map_err(|_| err(n, format!("{:?} is not a line number", fields[0])))?;
            if number != next_number {
                return Err(err(
                    n,
                    format!(
                        "data line {number} found where line {next_number} was expected (missing or repeated line)"
                    ),
                ));
            }
            let data_hex: String = fields[1..fields.len() - 1].concat();
            let data = hex::decode(data_hex.to_lowercase())
                .map_err(|_| err(n, "data is not hexadecimal (typo?)".into()))?;
            let check = fields[fields.len() - 1].to_lowercase();
            if check != line_check(number, &data) {
                return Err(err(
                    n,
                    format!("check {check} does not match data line {number} (typo on this line)"),
                ));
            }
            bytes.extend_from_slice(&data);
            next_number += 1;
        }
        if !ended {
            return Err(KeysError::malformed(
                what,
                "END line missing (text cut short?)",
            ));
        }
        if let Some(len) = expected_len
            && len != bytes.len()
        {
            return Err(KeysError::malformed(
                what,
                format!(
                    "{} bytes read but the header says {len} (lines missing?)",
                    bytes.len()
                ),
            ));
        }
        if let Some(sum) = expected_sum
            && sum.as_slice() != Sha256::digest(&bytes).as_slice()
        {
            return Err(KeysError::malformed(
                what,
                "sha256 of the data does not match the header",
            ));
        }
        RecoveryBundle::from_bytes(&bytes, what)
    }

    /// Parses an escrow file in either form (binary bundle or text).
    pub fn parse_any(bytes: &[u8], what: &str) -> Result<RecoveryBundle, KeysError> {
        if bytes.starts_with(b"BCPVRB") {
            return RecoveryBundle::from_bytes(bytes, what);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| {
            KeysError::malformed(what, "neither a binary bundle nor UTF-8 escrow text")
        })?;
        Self::parse(text, what)
    }
}
