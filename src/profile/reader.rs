//! Walking a parsed TOML table while tracking key paths, so every error names the
//! exact key (`remote[1].port`) and renders the offending value.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::{Table, Value};

use super::duration::{HumanDuration, parse_duration};
use super::error::{Problem, ProfileError};
use super::size::{Size, parse_size};

/// Longest rendered value in a message; longer ones are cut with `…`.
const MAX_RENDERED: usize = 80;

/// The file being read: where errors point and relative paths start.
pub(crate) struct Ctx {
    pub file: PathBuf,
    /// Directory relative paths are resolved against (the file's directory).
    pub base: PathBuf,
}

impl Ctx {
    pub fn new(file: &Path) -> Ctx {
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Ctx {
            file: file.to_path_buf(),
            base,
        }
    }

    pub fn error(&self, key: &str, problem: Problem) -> ProfileError {
        ProfileError::Key {
            file: self.file.clone(),
            key: key.into(),
            problem,
        }
    }

    /// The root table as a section, after checking its keys.
    pub fn root<'a>(
        &'a self,
        table: &'a Table,
        allowed: &[&'static str],
    ) -> Result<Section<'a>, ProfileError> {
        Section::new(self, String::new(), table, allowed)
    }
}

/// A table whose keys have been checked against an allowed list.
pub(crate) struct Section<'a> {
    ctx: &'a Ctx,
    prefix: String,
    table: &'a Table,
}

impl<'a> Section<'a> {
    fn new(
        ctx: &'a Ctx,
        prefix: String,
        table: &'a Table,
        allowed: &[&'static str],
    ) -> Result<Self, ProfileError> {
        let section = Section { ctx, prefix, table };
        section.check_keys(allowed)?;
        Ok(section)
    }

    /// Fails on the first key (in sorted order) not in `allowed`.
    pub fn check_keys(&self, allowed: &[&'static str]) -> Result<(), ProfileError> {
        match self.table.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(key) => Err(self.ctx.error(
                &self.path(key),
                Problem::UnknownKey {
                    expected: allowed.to_vec(),
                },
            )),
            None => Ok(()),
        }
    }

    /// Full key path of `key` in this table.
    pub fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    pub fn get(&self, key: &str) -> Option<Field<'a>> {
        self.table.get(key).map(|value| Field {
            ctx: self.ctx,
            key: self.path(key),
            value,
        })
    }

    pub fn require(&self, key: &str, expected: &str) -> Result<Field<'a>, ProfileError> {
        self.get(key).ok_or_else(|| {
            self.ctx.error(
                &self.path(key),
                Problem::Missing {
                    expected: expected.into(),
                },
            )
        })
    }
}

/// One value and its key path.
pub(crate) struct Field<'a> {
    pub ctx: &'a Ctx,
    pub key: String,
    pub value: &'a Value,
}

impl<'a> Field<'a> {
    pub fn invalid(&self, expected: &str) -> ProfileError {
        self.ctx.error(
            &self.key,
            Problem::Invalid {
                value: render(self.value),
                expected: expected.into(),
            },
        )
    }

    pub fn duplicate(&self, first: &str) -> ProfileError {
        self.ctx.error(
            &self.key,
            Problem::Duplicate {
                value: render(self.value),
                first: first.into(),
            },
        )
    }

    pub fn unsupported(&self, expected: &str) -> ProfileError {
        self.ctx.error(
            &self.key,
            Problem::Unsupported {
                value: render(self.value),
                expected: expected.into(),
            },
        )
    }

    pub fn str(&self, expected: &str) -> Result<&'a str, ProfileError> {
        self.value.as_str().ok_or_else(|| self.invalid(expected))
    }

    pub fn bool(&self) -> Result<bool, ProfileError> {
        self.value
            .as_bool()
            .ok_or_else(|| self.invalid("true or false"))
    }

    /// An integer in `lo..=hi`.
    pub fn int(&self, lo: i64, hi: i64) -> Result<i64, ProfileError> {
        match self.value.as_integer() {
            Some(n) if (lo..=hi).contains(&n) => Ok(n),
            _ => Err(self.invalid(&format!("an integer from {lo} to {hi}"))),
        }
    }

    /// A size string (or a plain integer of bytes) in `lo..=hi`.
    pub fn size(&self, lo: u64, hi: Option<u64>, examples: &str) -> Result<u64, ProfileError> {
        let range = match hi {
            Some(hi) => format!("a size from {} to {}", Size(lo), Size(hi)),
            None => format!("a size of at least {}", Size(lo)),
        };
        let bytes = match self.value {
            Value::String(s) => parse_size(s).ok(),
            Value::Integer(n) => u64::try_from(*n).ok(),
            _ => None,
        };
        match bytes {
            Some(b) if b >= lo && hi.is_none_or(|hi| b <= hi) => Ok(b),
            _ => Err(self.invalid(&format!("{range} like {examples}"))),
        }
    }

    /// A duration string in `lo..=hi`.
    pub fn duration(
        &self,
        lo: Duration,
        hi: Duration,
        examples: &str,
    ) -> Result<Duration, ProfileError> {
        let parsed = self.value.as_str().and_then(|s| parse_duration(s).ok());
        match parsed {
            Some(d) if d >= lo && d <= hi => Ok(d),
            _ => Err(self.invalid(&format!(
                "a duration from {} to {} like {examples}",
                HumanDuration(lo),
                HumanDuration(hi)
            ))),
        }
    }

    /// A non-empty local path, resolved against the profile's directory.
    pub fn path(&self, expected: &str) -> Result<PathBuf, ProfileError> {
        match self.value.as_str() {
            Some(s) if !s.trim().is_empty() && !s.contains('\0') => Ok(self.ctx.base.join(s)),
            _ => Err(self.invalid(expected)),
        }
    }

    /// The elements of an array, each keyed `key[i]`.
    pub fn array(&self, expected: &str) -> Result<Vec<Field<'a>>, ProfileError> {
        let items = self
            .value
            .as_array()
            .ok_or_else(|| self.invalid(expected))?;
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, value)| Field {
                ctx: self.ctx,
                key: format!("{}[{i}]", self.key),
                value,
            })
            .collect())
    }

    /// This value as a table whose keys must be in `allowed`.
    pub fn table(&self, allowed: &[&'static str]) -> Result<Section<'a>, ProfileError> {
        let table = self
            .value
            .as_table()
            .ok_or_else(|| self.invalid("a table"))?;
        Section::new(self.ctx, self.key.clone(), table, allowed)
    }

    /// This value as a table; keys are checked later by the caller.
    pub fn table_unchecked(&self) -> Result<Section<'a>, ProfileError> {
        let table = self
            .value
            .as_table()
            .ok_or_else(|| self.invalid("a table"))?;
        Ok(Section {
            ctx: self.ctx,
            prefix: self.key.clone(),
            table,
        })
    }
}

/// Compact one-line TOML-like rendering of a value for error messages.
pub(crate) fn render(value: &Value) -> String {
    let full = render_full(value);
    if full.chars().count() <= MAX_RENDERED {
        return full;
    }
    let mut cut: String = full.chars().take(MAX_RENDERED - 1).collect();
    cut.push('…');
    cut
}

fn render_full(value: &Value) -> String {
    match value {
        // Debug escaping keeps the message on one line and shows stray quotes.
        Value::String(s) => format!("{s:?}"),
        Value::Integer(n) => n.to_string(),
        Value::Float(x) => format!("{x:?}"),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => d.to_string(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(render_full).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Table(table) => {
            if table.is_empty() {
                return "{}".into();
            }
            let inner: Vec<String> = table
                .iter()
                .map(|(k, v)| format!("{k} = {}", render_full(v)))
                .collect();
            format!("{{ {} }}", inner.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_values_on_one_line() {
        assert_eq!(render(&Value::String("a\"b\nc".into())), r#""a\"b\nc""#);
        assert_eq!(render(&Value::String("総務".into())), "\"総務\"");
        assert_eq!(render(&Value::Integer(70000)), "70000");
        assert_eq!(render(&Value::Float(1.5)), "1.5");
        assert_eq!(render(&Value::Boolean(true)), "true");
        let array = Value::Array(vec![Value::Integer(1), Value::String("x".into())]);
        assert_eq!(render(&array), "[1, \"x\"]");
        let mut table = Table::new();
        table.insert("a".into(), Value::Integer(1));
        assert_eq!(render(&Value::Table(table)), "{ a = 1 }");
        let long = render(&Value::String("x".repeat(200)));
        assert_eq!(long.chars().count(), MAX_RENDERED);
        assert!(long.ends_with('…'));
    }
}
