//! Text output: aligned columns, durations and rates as an operator reads them.

use std::io::Write;

/// Writes `rows` under `header`, each column as wide as its widest cell, the first
/// column left-aligned and the others right-aligned but for `left` ones.
pub fn table(
    out: &mut dyn Write,
    header: &[&str],
    rows: &[Vec<String>],
    left: &[usize],
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<&str>| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
            if i > 0 {
                text.push_str("  ");
            }
            match i == 0 || left.contains(&i) {
                true => {
                    text.push_str(cell);
                    text.push_str(&pad);
                }
                false => {
                    text.push_str(&pad);
                    text.push_str(cell);
                }
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, header.to_vec())?;
    for row in rows {
        line(out, row.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

/// Milliseconds as `1h02m`, `4m10s`, `12.3s`, `250ms`.
pub fn millis(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// A share as a percentage, `-` when nothing was counted.
pub fn percent(part: u64, whole: u64) -> String {
    match whole {
        0 => String::from("-"),
        _ => format!("{:.1}%", 100.0 * part as f64 / whole as f64),
    }
}

/// Consistency as nines, `-` before any check.
pub fn nines(nines: Option<f64>) -> String {
    nines.map_or_else(|| String::from("-"), |nines| format!("{nines:.1}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_as_an_operator_reads_them() {
        assert_eq!(super::millis(250), "250ms");
        assert_eq!(super::millis(12_300), "12.3s");
        assert_eq!(super::millis(250_000), "4m10s");
        assert_eq!(super::millis(3_720_000), "1h02m");
        assert_eq!(super::percent(1, 4), "25.0%");
        assert_eq!(super::percent(0, 0), "-");
    }

    #[test]
    fn columns_align() {
        let mut out = Vec::new();
        let rows = vec![
            vec!["fmpa".into(), "12".into()],
            vec!["a".into(), "3".into()],
        ];
        super::table(&mut out, &["PREFIX", "HITS"], &rows, &[]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "PREFIX  HITS\nfmpa      12\na          3\n"
        );
    }
}
