//! Printing contents and reports in the format asked for.

use std::io::{self, BufWriter, Write as _};

use greenlight_core::{Contents, Report, render};

use crate::cli::{ContentsFormat, ReportFormat};

pub fn contents(contents: &Contents, format: ContentsFormat, color: bool) -> io::Result<()> {
    match format {
        ContentsFormat::Json => json(contents),
        ContentsFormat::Human => text(&render::contents_human(contents, color)),
    }
}

pub fn report(report: &Report, format: ReportFormat, color: bool) -> io::Result<()> {
    match format {
        ReportFormat::Json => json(report),
        ReportFormat::Human => text(&render::report_human(report, color)),
        ReportFormat::Markdown => text(&render::report_markdown(report)),
    }
}

pub(crate) fn json(value: &impl serde::Serialize) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
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
