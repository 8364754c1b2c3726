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
    let mut widths = Columns::default();
    for l in lines {
        widths.measure(l);
    }
    lines.iter().map(|l| widths.line(l)).collect()
}

/// Column widths, measured over every row before the first is written: a table can then
/// be written a row at a time from rows produced again.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    widths: Vec<usize>,
}

impl Columns {
    /// Widens the columns to fit `cells` (as they are shown).
    pub fn measure(&mut self, cells: &[String]) {
        if self.widths.len() < cells.len() {
            self.widths.resize(cells.len(), 0);
        }
        for (w, c) in self.widths.iter_mut().zip(cells) {
            *w = (*w).max(Untrusted(c).to_string().chars().count());
        }
    }

    /// One line of the table: the cells shown safe, padded, and a newline.
    pub fn line(&self, cells: &[String]) -> String {
        let shown: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let c = Untrusted(c).to_string();
                if i + 1 == cells.len() {
                    c
                } else {
                    format!("{c:<w$}", w = self.widths.get(i).copied().unwrap_or(0))
                }
            })
            .collect();
        let mut line = shown.join("   ").trim_end().to_string();
        line.push('\n');
        line
    }
}

/// A buffered writer on stdout, for results written as they are produced.
#[allow(clippy::disallowed_methods)] // the -o printer: the one place command results leave
pub fn stdout() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::new(std::io::stdout().lock())
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
