//! A plain row renderer for the panes' tables: column widths by arithmetic, cells cut to their width
//! with '…' and padded, written straight into the buffer. ratatui's `Table` runs the constraint
//! solver for every new (area, columns) pair, which cost tens of milliseconds per frame in the
//! detail pane; this costs only the cells in view.
use crate::text::{truncate, width};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// How a column takes its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Fixed(u16),
    /// A percentage of the row width.
    Pct(u16),
    /// Shares what is left (by weight) after the fixed and percentage columns.
    Fill(u16),
}

/// Resolves column widths for a row of `total` cells with `gap` cells between columns. Columns
/// that do not fit get width 0 (they are dropped from the right).
pub fn widths(total: u16, cols: &[Col], gap: u16) -> Vec<u16> {
    let gaps = gap.saturating_mul(cols.len().saturating_sub(1) as u16);
    let avail = total.saturating_sub(gaps);
    let mut out: Vec<u16> = cols
        .iter()
        .map(|c| match c {
            Col::Fixed(n) => *n,
            Col::Pct(p) => (u32::from(avail) * u32::from(*p) / 100) as u16,
            Col::Fill(_) => 0,
        })
        .collect();
    let fixed: u16 = out.iter().fold(0u16, |a, w| a.saturating_add(*w));
    let weight: u16 = cols
        .iter()
        .map(|c| if let Col::Fill(w) = c { *w } else { 0 })
        .sum();
    if weight > 0 {
        let rest = avail.saturating_sub(fixed);
        let mut given = 0;
        let fills: Vec<usize> = (0..cols.len())
            .filter(|&i| matches!(cols[i], Col::Fill(_)))
            .collect();
        for (k, &i) in fills.iter().enumerate() {
            let Col::Fill(w) = cols[i] else { continue };
            let share = if k + 1 == fills.len() {
                rest - given
            } else {
                (u32::from(rest) * u32::from(w) / u32::from(weight)) as u16
            };
            out[i] = share;
            given += share;
        }
    }
    // Cut from the right until the row fits.
    let mut used = 0u16;
    for w in out.iter_mut() {
        let room = avail.saturating_sub(used);
        *w = (*w).min(room);
        used = used.saturating_add(*w);
    }
    out
}

/// Cuts a line to `w` cells (ending in '…' when something was cut) and pads it to exactly `w`.
pub fn fit(line: Line<'static>, w: usize) -> Line<'static> {
    let total = line.width();
    let mut spans: Vec<Span<'static>> = Vec::with_capacity(line.spans.len() + 1);
    if total <= w {
        spans.extend(line.spans);
        if total < w {
            spans.push(Span::raw(" ".repeat(w - total)));
        }
    } else {
        let mut used = 0;
        for span in line.spans {
            let sw = width(&span.content);
            if used + sw < w {
                used += sw;
                spans.push(span);
                continue;
            }
            let cut = truncate(&span.content, w - used).into_owned();
            used += width(&cut);
            spans.push(Span::styled(cut, span.style));
            break;
        }
        if used < w {
            spans.push(Span::raw(" ".repeat(w - used)));
        }
    }
    Line {
        spans,
        style: line.style,
        alignment: None,
    }
}

/// Draws rows into `area`, one per line from the top: each row's style first (so cells keep their
/// own colours on top of it), then its cells at the given widths.
pub fn render_rows(
    buf: &mut Buffer,
    area: Rect,
    widths: &[u16],
    gap: u16,
    rows: impl IntoIterator<Item = (Vec<Line<'static>>, Style)>,
) {
    for (y, (cells, style)) in (area.y..area.bottom()).zip(rows) {
        buf.set_style(Rect::new(area.x, y, area.width, 1), style);
        let mut x = area.x;
        for (cell, &w) in cells.into_iter().zip(widths) {
            if w == 0 || x >= area.right() {
                break;
            }
            let w = w.min(area.right() - x);
            let line = fit(cell, w as usize);
            buf.set_line(x, y, &line, w);
            x = x.saturating_add(w).saturating_add(gap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_fill_and_cut() {
        assert_eq!(
            widths(50, &[Col::Fixed(10), Col::Fill(1), Col::Fixed(5)], 1),
            [10, 33, 5]
        );
        assert_eq!(widths(20, &[Col::Pct(50), Col::Fill(1)], 0), [10, 10]);
        assert_eq!(widths(8, &[Col::Fixed(6), Col::Fixed(6)], 1), [6, 1]);
        assert_eq!(widths(0, &[Col::Fixed(6), Col::Fill(1)], 1), [0, 0]);
    }

    #[test]
    fn fit_cuts_and_pads() {
        let l = fit(Line::from(vec![Span::raw("abc"), Span::raw("def")]), 8);
        assert_eq!(l.width(), 8);
        let l = fit(Line::from(vec![Span::raw("abc"), Span::raw("defgh")]), 5);
        assert_eq!(l.to_string(), "abcd…");
        let l = fit(Line::from("日本語テキスト"), 5);
        assert_eq!(l.width(), 5);
    }
}
