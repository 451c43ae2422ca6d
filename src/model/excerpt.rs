//! A big output cut to its head and tail, for pages that must stay
//! responsive with megabytes of stdout: the first and last
//! [`EXCERPT_LINES`] lines, each end at most [`EXCERPT_END_BYTES`], with
//! one line between them saying how much was left out.

/// Lines kept at each end.
pub const EXCERPT_LINES: usize = 100;

/// Bytes kept at most at each end.
pub const EXCERPT_END_BYTES: usize = 64 * 1024;

/// `text` cut to its head and tail with a line saying what is not shown,
/// or `None` when it is short enough to show whole.
pub fn excerpt(text: &str) -> Option<String> {
    let head_end = text
        .match_indices('\n')
        .nth(EXCERPT_LINES - 1)
        .map_or(text.len(), |(i, _)| i + 1);
    let head_end = floor_boundary(text, head_end.min(EXCERPT_END_BYTES));
    let body = text.strip_suffix('\n').unwrap_or(text);
    let tail_start = body
        .rmatch_indices('\n')
        .nth(EXCERPT_LINES - 1)
        .map_or(0, |(i, _)| i + 1);
    let tail_start = ceil_boundary(text, tail_start.max(text.len().saturating_sub(EXCERPT_END_BYTES)));
    if head_end >= tail_start {
        return None;
    }
    let (head, hidden, tail) = (
        &text[..head_end],
        &text[head_end..tail_start],
        &text[tail_start..],
    );
    let break_line = if head.ends_with('\n') { "" } else { "\n" };
    Some(format!(
        "{head}{break_line}… {} bytes ({} lines) not shown …\n{tail}",
        hidden.len(),
        hidden.matches('\n').count()
    ))
}

/// The largest character boundary of `text` at or before `i`.
fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest character boundary of `text` at or after `i`.
fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_shown_whole() {
        assert_eq!(excerpt(""), None);
        let lines: String = (0..200).map(|i| format!("line {i}\n")).collect();
        assert_eq!(excerpt(&lines), None, "200 lines are the head and the tail");
    }

    #[test]
    fn long_text_keeps_100_lines_at_each_end() {
        let lines: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let cut = excerpt(&lines).unwrap();
        let kept: Vec<&str> = cut.lines().collect();
        assert_eq!(kept.len(), 201);
        assert_eq!(kept[0], "line 0");
        assert_eq!(kept[99], "line 99");
        assert_eq!(
            kept[100],
            format!(
                "… {} bytes (800 lines) not shown …",
                lines.len() - cut.len() + kept[100].len() + 1
            )
        );
        assert_eq!(kept[101], "line 900");
        assert_eq!(kept[200], "line 999");
    }

    #[test]
    fn long_lines_are_cut_to_64_kib_at_each_end_on_a_character_boundary() {
        let text = "é".repeat(300_000);
        let cut = excerpt(&text).unwrap();
        assert!(cut.len() <= 2 * EXCERPT_END_BYTES + 100, "{}", cut.len());
        let (head, rest) = cut.split_once('\n').unwrap();
        assert!(head.len() <= EXCERPT_END_BYTES && head.chars().all(|c| c == 'é'));
        let (marker, tail) = rest.split_once('\n').unwrap();
        assert!(marker.contains("(0 lines) not shown"), "{marker}");
        assert!(tail.len() <= EXCERPT_END_BYTES && tail.chars().all(|c| c == 'é'));
    }
}
