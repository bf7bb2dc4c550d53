//! Printing contents and reports in the format asked for.

use std::io::{self, BufWriter, Write};

use greenlight_core::{Commit, Contents, IssueIndex, Report, render};

use crate::cli::ReportFormat;

pub fn contents_human(contents: &Contents, color: bool) -> io::Result<()> {
    text(&render::contents_human(contents, color))
}

/// Assembles the contents of `commits` (newest first) and writes them to `out` as JSON: the same bytes as
/// serialising `Contents::assemble(from, to, commits)`, plus a newline. A second thread writes everything up to the
/// commits (most of the output) while this one builds the issue index, which comes after them.
pub fn contents_json(
    out: &mut (impl Write + Send),
    from: String,
    to: String,
    commits: Vec<Commit>,
    rolled_back: Vec<Commit>,
) -> io::Result<Contents> {
    // `Contents`'s fields in the order it declares them, as serde_json writes them.
    let (written, index) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| -> io::Result<()> {
            let mut out = BufWriter::with_capacity(1 << 16, &mut *out);
            out.write_all(b"{\"from\":")?;
            serde_json::to_writer(&mut out, &from)?;
            out.write_all(b",\"to\":")?;
            serde_json::to_writer(&mut out, &to)?;
            out.write_all(b",\"commits\":")?;
            serde_json::to_writer(&mut out, &commits)?;
            out.flush()
        });
        let index = IssueIndex::of(&commits);
        (writer.join(), index)
    });
    written.map_err(|_| io::Error::other("the thread writing the commits panicked"))??;
    let contents = Contents::from_parts(from, to, commits, index).rolling_back(rolled_back);
    let mut out = BufWriter::with_capacity(1 << 16, out);
    out.write_all(b",\"issues\":")?;
    serde_json::to_writer(&mut out, &contents.issues)?;
    out.write_all(b",\"commits_without_key\":")?;
    serde_json::to_writer(&mut out, &contents.commits_without_key)?;
    out.write_all(b",\"rolled_back\":")?;
    serde_json::to_writer(&mut out, &contents.rolled_back)?;
    out.write_all(b"}\n")?;
    out.flush()?;
    Ok(contents)
}

pub fn report(report: &Report, format: ReportFormat, color: bool) -> io::Result<()> {
    match format {
        ReportFormat::Json => json(report),
        ReportFormat::Human => text(&render::report_human(report, color)),
        ReportFormat::Markdown => text(&render::report_markdown(report)),
    }
}

/// Serialises into memory and writes once: serde_json writes in many small pieces, which a `Vec` takes for less than
/// a `BufWriter` does.
pub(crate) fn json(value: &impl serde::Serialize) -> io::Result<()> {
    let mut json = Vec::with_capacity(1 << 16);
    serde_json::to_writer(&mut json, value)?;
    json.push(b'\n');
    let mut out = io::stdout().lock();
    out.write_all(&json)?;
    out.flush()
}

fn text(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// A reader that stopped reading (`| head`) is not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().filter_map(|e| e.downcast_ref::<io::Error>()).any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(sha: &str, message: &str, merge: bool) -> Commit {
        Commit {
            sha: sha.to_owned(),
            author: "Ada \"the\" Lovelace".to_owned(),
            email: "ada@example.com".to_owned(),
            time: "2024-01-02T03:04:05+01:00".to_owned(),
            subject: message.lines().next().unwrap_or_default().to_owned(),
            message: message.to_owned(),
            keys: greenlight_core::KeyRules::default().extract(message),
            merge,
        }
    }

    #[track_caller]
    fn check(commits: Vec<Commit>, rolled_back: Vec<Commit>) {
        let expected = Contents::assemble("f".into(), "t".into(), commits.clone()).rolling_back(rolled_back.clone());
        let mut expected = serde_json::to_vec(&expected).unwrap();
        expected.push(b'\n');
        let mut out = Vec::new();
        contents_json(&mut out, "f".into(), "t".into(), commits, rolled_back).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(expected).unwrap());
    }

    #[test]
    fn contents_json_writes_what_serde_writes() {
        check(vec![], vec![]);
        check(vec![], vec![commit("p1", "AB-7 in production only", false)]);
        check(
            vec![
                commit("c3", "AB-10 and AB-9 \u{1F600} \t tab", false),
                commit("c2", "Merge branch 'x'", true),
                commit("c1", "no key here \\ \"quoted\"", false),
                commit("c0", "AB-9 first\n\nbody CD-1", false),
            ],
            vec![commit("p1", "AB-7 in production only", false)],
        );
    }
}
