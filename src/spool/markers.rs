//! Git conflict markers: splitting a file that `git merge` left with
//! `<<<<<<<` / `=======` / `>>>>>>>` blocks back into the two versions.
//!
//! Lines outside the blocks are shared; inside a block, the first version
//! takes the lines before `=======` (or before the `|||||||` base section of
//! the diff3 style), the second the lines after it. Either version may be a
//! blend of both sides where git merged their changes cleanly; the caller
//! must treat each as a candidate, not as the truth. Pure: no I/O.

/// What the split found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Split {
    /// No conflict markers: the text is one version.
    Clean,
    /// The two versions git could not merge, ours first.
    Versions(String, String),
    /// Markers that do not pair up (nested, cut off): nothing to recover.
    Malformed,
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Shared,
    Ours,
    Base,
    Theirs,
}

/// The length of the conflict marker made of `c` that `line` is: seven or
/// more of it (git uses more for conflicts inside renames), then a space or
/// the end of the line.
fn marker_len(line: &str, c: char) -> Option<usize> {
    let body = line.trim_end_matches(['\n', '\r']);
    let len = body.len() - body.trim_start_matches(c).len();
    (len >= 7 && body[len..].chars().next().is_none_or(|x| x == ' ')).then_some(len)
}

/// Splits `text` into the versions git's conflict markers separate.
pub(crate) fn split_conflict(text: &str) -> Split {
    let mut ours = String::new();
    let mut theirs = String::new();
    let mut section = Section::Shared;
    let mut size = 0;
    let mut found = false;
    for line in text.split_inclusive('\n') {
        let is = |c: char| marker_len(line, c) == Some(size);
        let next = match section {
            Section::Shared => marker_len(line, '<').map(|n| {
                size = n;
                Section::Ours
            }),
            Section::Ours if is('|') => Some(Section::Base),
            Section::Ours | Section::Base if is('=') => Some(Section::Theirs),
            Section::Theirs if is('>') => Some(Section::Shared),
            _ => None,
        };
        if next.is_none()
            && ['<', '|', '=', '>']
                .iter()
                .any(|c| marker_len(line, *c).is_some())
        {
            return Split::Malformed;
        }
        if let Some(next) = next {
            found = true;
            section = next;
            continue;
        }
        match section {
            Section::Shared => {
                ours.push_str(line);
                theirs.push_str(line);
            }
            Section::Ours => ours.push_str(line),
            Section::Base => {}
            Section::Theirs => theirs.push_str(line),
        }
    }
    match (found, section) {
        (false, _) => Split::Clean,
        (true, Section::Shared) => Split::Versions(ours, theirs),
        (true, _) => Split::Malformed,
    }
}

/// Whether `text` holds any line that looks like a conflict marker.
pub fn has_markers(text: &str) -> bool {
    text.lines()
        .any(|l| ['<', '=', '>'].iter().any(|c| marker_len(l, *c).is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(a: &str, b: &str) -> Split {
        Split::Versions(a.to_owned(), b.to_owned())
    }

    #[test]
    fn splits_the_shapes_git_writes() {
        let cases = [
            ("a\nb\n", Split::Clean),
            (
                "a\n<<<<<<< HEAD\nb1\n=======\nb2\n>>>>>>> main\nc\n",
                versions("a\nb1\nc\n", "a\nb2\nc\n"),
            ),
            (
                "<<<<<<< HEAD\nx\n||||||| base\no\n=======\ny\n>>>>>>> theirs\n",
                versions("x\n", "y\n"),
            ),
            (
                "<<<<<<< HEAD:a.json\n=======\ny\n>>>>>>> 9a8d:b.json\nz",
                versions("z", "y\nz"),
            ),
            (
                "<<<<<<< HEAD\n1\n=======\n2\n>>>>>>> x\nm\n<<<<<<< HEAD\n3\n=======\n4\n>>>>>>> x\n",
                versions("1\nm\n3\n", "2\nm\n4\n"),
            ),
            ("<<<<<<< HEAD\nx\n=======\ny\n", Split::Malformed),
            ("<<<<<<< HEAD\n<<<<<<< inner\n", Split::Malformed),
            ("\"<<<<<<< quoted\"\n", Split::Clean),
            ("=======x\n", Split::Clean),
            (
                "<<<<<<<< HEAD:a\n1\n========\n2\n>>>>>>>> b:c\n",
                versions("1\n", "2\n"),
            ),
            ("<<<<<<<< HEAD\n1\n=======\n2\n>>>>>>>> b\n", Split::Malformed),
        ];
        for (text, want) in cases {
            assert_eq!(split_conflict(text), want, "{text:?}");
        }
    }

    #[test]
    fn spots_markers() {
        assert!(has_markers("a\n>>>>>>> b\n"));
        assert!(!has_markers("{\"a\": \"<<<<<<<\"}\n"));
    }
}
