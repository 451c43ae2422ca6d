//! Parsing of a script's top comment block into its index entry fields.
//!
//! Pure text in, fields out: no I/O happens here, so every rule is covered by
//! the table below. The block is the run of comment lines at the top of the
//! file (after an optional shebang and blank lines) and ends at the first line
//! that is not a comment. Only `key: value` lines with a known key count.

/// The fields a script declares about itself in its header.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct ScriptHeader {
    pub name: Option<String>,
    pub description: Option<String>,
    pub inputs: Option<String>,
    pub outputs: Option<String>,
    pub tags: Vec<String>,
    pub timeout: Option<u64>,
    pub task_class: Option<String>,
}

/// Comment markers a header line may start with, longest first so `//` is not
/// mistaken for something else.
const COMMENT_MARKERS: [&str; 3] = ["//", "#", "--"];

fn comment_body(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    COMMENT_MARKERS
        .iter()
        .find_map(|marker| trimmed.strip_prefix(marker))
}

/// Reads the header of `text`. Unknown keys and malformed values are skipped,
/// since a script's comments are prose first and metadata second.
pub(crate) fn parse_header(text: &str) -> ScriptHeader {
    let mut header = ScriptHeader::default();
    let mut started = false;
    for (index, line) in text.lines().enumerate() {
        if index == 0 && line.starts_with("#!") {
            continue;
        }
        let Some(body) = comment_body(line) else {
            if !started && line.trim().is_empty() {
                continue;
            }
            break;
        };
        started = true;
        let Some((key, value)) = body.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let text = Some(value.to_string());
        match key.trim().to_ascii_lowercase().as_str() {
            "name" => header.name = text,
            "description" => header.description = text,
            "inputs" => header.inputs = text,
            "outputs" => header.outputs = text,
            "task_class" => header.task_class = text,
            "timeout" => header.timeout = value.trim_end_matches('s').parse().ok(),
            "tags" => {
                header.tags = value
                    .split(',')
                    .map(|tag| tag.trim().to_string())
                    .filter(|tag| !tag.is_empty())
                    .collect()
            }
            _ => {}
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, description: &str) -> ScriptHeader {
        ScriptHeader {
            name: Some(name.into()),
            description: Some(description.into()),
            ..ScriptHeader::default()
        }
    }

    #[test]
    fn parses_headers() {
        let full = ScriptHeader {
            name: Some("deploy".into()),
            description: Some("Ship it: to staging".into()),
            inputs: Some("env name".into()),
            outputs: Some("deploy log".into()),
            tags: vec!["ops".into(), "deploy".into()],
            timeout: Some(120),
            task_class: Some("MEDIUM_SCRIPT".into()),
        };
        let cases: Vec<(&str, &str, ScriptHeader)> = vec![
            ("empty file", "", ScriptHeader::default()),
            ("no comments", "echo hi\n# name: late\n", ScriptHeader::default()),
            (
                "every key, shebang skipped",
                "#!/bin/bash\n# name: deploy\n# description: Ship it: to staging\n# inputs: env name\n# outputs: deploy log\n# tags: ops, deploy,\n# timeout: 120\n# task_class: MEDIUM_SCRIPT\nset -e\n",
                full,
            ),
            (
                "stops at first non-comment line",
                "# name: a\n# description: b\necho\n# timeout: 5\n",
                header("a", "b"),
            ),
            (
                "blank line ends the block once started",
                "# name: a\n# description: b\n\n# timeout: 5\n",
                header("a", "b"),
            ),
            (
                "leading blank lines are skipped",
                "#!/usr/bin/env python3\n\n# name: a\n# description: b\n",
                header("a", "b"),
            ),
            (
                "slash and dash comments",
                "// name: a\n-- description: b\n",
                header("a", "b"),
            ),
            (
                "keys are case-insensitive, unknown keys and prose ignored",
                "# Name: a\n# Some prose without a key\n# colour: blue\n# DESCRIPTION: b\n",
                header("a", "b"),
            ),
            (
                "bad timeout ignored, seconds suffix accepted",
                "# timeout: soon\n",
                ScriptHeader::default(),
            ),
            (
                "seconds suffix",
                "# timeout: 30s\n",
                ScriptHeader {
                    timeout: Some(30),
                    ..ScriptHeader::default()
                },
            ),
            (
                "empty value ignored",
                "# name:\n# description: b\n",
                ScriptHeader {
                    description: Some("b".into()),
                    ..ScriptHeader::default()
                },
            ),
        ];
        for (label, text, expected) in cases {
            assert_eq!(parse_header(text), expected, "case: {label}");
        }
    }
}
