//! The README's tour as data: every `$ ` command of its code blocks, in order, with the
//! output the README shows. In the README, `…` inside a line stands for any text, and a
//! line that is only `…` for any number of lines; a `# exits N` comment gives the expected
//! exit code (0 otherwise). `tests/tests/readme.rs` runs it on sled, `tests/tests/postgres.rs`
//! on a PostgreSQL ledger.

use std::path::Path;

/// One command of the tour and the output the README shows for it.
pub struct Step {
    /// The command, with its here-document.
    pub command: String,
    /// The exit code the README expects.
    pub exit: i32,
    /// The output lines the README shows.
    pub expected: Vec<String>,
}

/// The steps of the README's "A short tour" section.
pub fn tour(readme: &str) -> Vec<Step> {
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
pub fn line_matches(expected: &str, actual: &str) -> bool {
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
pub fn lines_match(expected: &[String], actual: &[&str]) -> bool {
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

/// Runs the README's tour in the empty directory `dir`, with the freshly built `custody`
/// first on the `PATH` and `env` set; in each output, `ledger_name` is shown as the
/// default ledger directory's name (`custody-ledger`), which the README prints.
pub fn run_tour(dir: &Path, env: &[(&str, &str)], ledger_name: Option<&str>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let steps = tour(&readme);
    assert!(
        steps.len() > 20,
        "the tour has only {} commands",
        steps.len()
    );
    let bin = crate::custody_bin();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for step in &steps {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec 2>&1\n{}", step.command))
            .current_dir(dir)
            .env("PATH", &path)
            .env_remove("CUSTODY_LEDGER")
            .env_remove("CUSTODY_OPERATOR_KEY")
            .env_remove("CUSTODY_PASSPHRASE")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        if let Some(name) = ledger_name {
            text = text.replace(name, "custody-ledger");
        }
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
