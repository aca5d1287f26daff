//! The README's tour runs as written on sled (`custody_tests::readme`): every `$ ` command
//! in an empty directory, each output matching what the README shows.

use custody_tests::readme::{line_matches, lines_match, run_tour};

#[test]
fn the_readme_tour_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    run_tour(dir.path(), &[], None);
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
