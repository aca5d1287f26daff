//! The README's tour runs as written: every `$ ` command of its code blocks, in order, in an
//! empty directory with the freshly built `custody` first on the `PATH`, and each output
//! (standard output and error together) must match what the README shows. In the README,
//! `…` inside a line stands for any text, and a line that is only `…` for any number of
//! lines; a `# exits N` comment gives the expected exit code (0 otherwise).

use std::path::Path;

/// One command of the tour and the output the README shows for it.
struct Step {
    command: String,
    exit: i32,
    expected: Vec<String>,
}

/// The steps of the README's "A short tour" section.
fn tour(readme: &str) -> Vec<Step> {
    let start = readme
        .find("## A short tour")
        .expect("the README has a tour");
    let section = &readme[start..];
    // To the next section: the tour's commands all run on one machine.
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    let mut steps: Vec<Step> = Vec::new();
    let mut in_block = false;
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            let mut command = command.to_owned();
            if command.contains("<<'EOF'") {
                for body in lines.by_ref() {
                    command.push('\n');
                    command.push_str(body);
                    if body == "EOF" {
                        break;
                    }
                }
            }
            let exit = command
                .split("# exits ")
                .nth(1)
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            steps.push(Step {
                command,
                exit,
                expected: Vec::new(),
            });
        } else if let Some(step) = steps.last_mut() {
            step.expected.push(line.trim_end().to_owned());
        }
    }
    steps
}

/// Whether `actual` matches the pattern line `expected` (`…` stands for any text).
fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split('…').collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || !actual[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `actual` matches `expected`, where a line that is only `…` matches any lines.
fn lines_match(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "…" => {
            (0..=actual.len()).any(|skip| lines_match(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(line, more)| line_matches(first, line) && lines_match(rest, more)),
    }
}

#[test]
fn the_readme_tour_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let steps = tour(&readme);
    assert!(
        steps.len() > 20,
        "the tour has only {} commands",
        steps.len()
    );
    let bin = custody_tests::custody_bin();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = tempfile::tempdir().unwrap();
    for step in &steps {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec 2>&1\n{}", step.command))
            .current_dir(dir.path())
            .env("PATH", &path)
            .env_remove("CUSTODY_LEDGER")
            .env_remove("CUSTODY_OPERATOR_KEY")
            .env_remove("CUSTODY_PASSPHRASE")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let actual: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(
            out.status.code(),
            Some(step.exit),
            "$ {}\nexited {:?}, the README expects {}:\n{text}",
            step.command,
            out.status.code(),
            step.exit
        );
        assert!(
            lines_match(&step.expected, &actual),
            "$ {}\nprinted:\n{text}\nthe README shows:\n{}",
            step.command,
            step.expected.join("\n")
        );
    }
}

#[test]
fn the_pattern_lines_mean_what_the_readme_says() {
    assert!(line_matches("appended #1 …", "appended #1 7839a48d"));
    assert!(!line_matches("appended #1 …", "appended #2 7839a48d"));
    assert!(line_matches("a … b … c", "a x b y c"));
    assert!(!line_matches("a … b … c", "a x c y b"));
    let lines = |s: &[&str]| s.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
    assert!(lines_match(
        &lines(&["x", "…", "z"]),
        &["x", "y1", "y2", "z"]
    ));
    assert!(lines_match(&lines(&["x", "…", "z"]), &["x", "z"]));
    assert!(!lines_match(&lines(&["x", "z"]), &["x", "y", "z"]));
}
