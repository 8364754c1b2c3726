//! Machine-readable output (`-o json|yaml`) and tables: the command's result, on stdout.
//! Human messages go to stderr; tokens never reach either.

pub mod audit_jsonl;
pub mod grant_tables;
pub mod safe_format;

use crate::untrusted::Untrusted;
use std::io::Write as _;

/// Machine-readable formats every `-o` flag offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

/// Prints `value` as JSON or YAML on stdout, with nothing a terminal would act on raw.
pub fn print(format: Format, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = match format {
        Format::Json => safe_format::json(value)?,
        Format::Yaml => safe_format::yaml(value)?,
    };
    text_out(&text)
}

/// Prints text (a table) on stdout.
#[allow(clippy::disallowed_methods)] // the -o printer: the one place command results leave
pub fn text_out(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Aligns rows of cells into kubectl-style columns (the first row is the header); the
/// last column is left unpadded so long text (a reason) does not widen every line. Every
/// cell is shown as `Untrusted`: records hold what people wrote.
pub fn columns(lines: &[Vec<String>]) -> String {
    let lines: Vec<Vec<String>> = lines
        .iter()
        .map(|l| l.iter().map(|c| Untrusted(c).to_string()).collect())
        .collect();
    let width = lines.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..width)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == l.len() {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_forge_lines_or_drive_the_terminal() {
        let table = columns(&[
            vec!["NAME".into(), "REASON".into()],
            vec!["grant-000001".into(), "a\nb".into()],
        ]);
        assert_eq!(table.lines().count(), 2, "{table}");
    }
}
