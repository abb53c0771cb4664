//! Column-aligned text tables: the layout of [`Report`](super::Report)'s table and of the
//! walkthrough's recap.

/// How the cells of a column line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Padded on the right (text).
    Left,
    /// Padded on the left (figures).
    Right,
}

/// `headers`, a rule of dashes, then `rows`: each column as wide as its widest cell (in chars),
/// columns two spaces apart, column `i` lined up as `align(i)`; every line ends in a newline with
/// no trailing spaces. A row shorter than the headers leaves its last columns out.
///
/// ```
/// use fasterai_runtime::measure::{text_table, Align};
/// let rows = vec![vec!["base".to_string(), "1.00×".to_string()], vec!["pruned".to_string(), "12.50×".to_string()]];
/// let text = text_table(&["stage", "size ×"], &rows, |i| if i == 0 { Align::Left } else { Align::Right });
/// assert_eq!(text, "stage   size ×\n------  ------\nbase     1.00×\npruned  12.50×\n");
/// ```
pub fn text_table(headers: &[&str], rows: &[Vec<String>], align: impl Fn(usize) -> Align) -> String {
    let columns = rows.iter().map(Vec::len).fold(headers.len(), usize::max);
    let mut widths = vec![0; columns];
    let cells = headers.iter().copied().enumerate().chain(rows.iter().flat_map(|row| row.iter().map(String::as_str).enumerate()));
    for (i, cell) in cells {
        widths[i] = widths[i].max(cell.chars().count());
    }
    let line = |row: &mut dyn Iterator<Item = &str>| -> String {
        let mut text = String::new();
        for (i, cell) in row.enumerate() {
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if i > 0 {
                text.push_str("  ");
            }
            match align(i) {
                Align::Left => {
                    text.push_str(cell);
                    text.push_str(&pad);
                }
                Align::Right => {
                    text.push_str(&pad);
                    text.push_str(cell);
                }
            }
        }
        text.truncate(text.trim_end().len());
        text.push('\n');
        text
    };
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    let mut text = line(&mut headers.iter().copied());
    text.push_str(&line(&mut rule.iter().map(String::as_str)));
    for row in rows {
        text.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn columns_align_left_or_right_and_lines_end_without_spaces() {
        let rows = vec![strings(&["a", "1", "x"]), strings(&["long name", "12,345", ""])];
        let left = |i: usize| if i == 0 || i == 2 { Align::Left } else { Align::Right };
        let text = text_table(&["stage", "Δ ×", "notes"], &rows, left);
        let want = "stage         Δ ×  notes\n---------  ------  -----\na               1  x\nlong name  12,345\n";
        assert_eq!(text, want);
    }

    #[test]
    fn headers_alone_give_a_header_and_a_rule() {
        assert_eq!(text_table(&["a", "bc"], &[], |_| Align::Right), "a  bc\n-  --\n");
        assert_eq!(text_table(&[], &[], |_| Align::Left), "\n\n");
    }

    #[test]
    fn rows_of_other_lengths_do_not_panic() {
        let rows = vec![strings(&["a"]), strings(&["b", "c", "d"])];
        assert_eq!(text_table(&["h", "i"], &rows, |_| Align::Left), "h  i\n-  -  -\na\nb  c  d\n");
    }
}
