//! The table the benchmark prints: each figure, what it measured, its goal, met or not.

use std::fmt::Write as _;

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub figure: String,
    pub measured: String,
    pub goal: String,
    /// `None` when the figure has no goal (context for another line).
    pub met: Option<bool>,
}

/// Every row and note of a run, printed at the end as Markdown, ready for
/// docs/PERFORMANCE.md.
#[derive(Debug, Default)]
pub struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Report {
    pub fn row(
        &mut self,
        figure: impl Into<String>,
        measured: impl Into<String>,
        goal: impl Into<String>,
        met: Option<bool>,
    ) {
        let row = Row {
            figure: figure.into(),
            measured: measured.into(),
            goal: goal.into(),
            met,
        };
        eprintln!("bench: {} = {}", row.figure, row.measured);
        self.rows.push(row);
    }

    /// A sentence printed under the table: what was measured, and how.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("| figure | measured | goal | met |\n| --- | --- | --- | --- |\n");
        for row in &self.rows {
            let met = match row.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                row.figure, row.measured, row.goal, met
            );
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }
}
