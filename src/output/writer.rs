//! Per-frame results to a file or stdout, as JSON Lines, CSV or MOTChallenge text.
//!
//! Each frame is flushed as it is written, so a reader can follow the file while it grows and
//! what was produced survives an error or an interrupted run. A file is written as
//! `name.partial` (see [`atomic`](super::atomic)) and renamed by [`ResultWriter::finish`]; a
//! run that fails keeps the partial file and never touches an existing file of the final name.

use super::atomic::PartialPath;
use super::table::{CsvWriter, MotWriter};
use crate::{Error, FrameResult, Result};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The layout of a results file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per frame.
    Jsonl,
    /// One row per detection, with a header.
    Csv,
    /// MOTChallenge `frame,id,x,y,w,h,conf,-1,-1,-1`, frames from 1.
    Mot,
}

impl Format {
    /// The format a file name implies: `.csv` is CSV, anything else JSON Lines (MOT files are
    /// plain `.txt`, so MOT is only ever asked for by name).
    pub fn for_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Jsonl,
        }
    }
}

type Out = BufWriter<Box<dyn Write + Send>>;

enum Sink {
    Jsonl(Out),
    Csv(CsvWriter<Out>),
    Mot(MotWriter<Out>),
}

pub struct ResultWriter {
    sink: Sink,
    file: Option<PartialPath>,
    frames: u64,
}

impl ResultWriter {
    /// `-` writes to stdout.
    pub fn create(path: &Path, format: Format) -> Result<ResultWriter> {
        let (out, file): (Box<dyn Write + Send>, _) = if path == Path::new("-") {
            (Box::new(std::io::stdout()), None)
        } else {
            let file = PartialPath::new(path);
            let f = std::fs::File::create(file.partial())
                .map_err(|e| Error::io(format!("cannot create {}", file.partial().display()), e))?;
            (Box::new(f), Some(file))
        };
        let name = describe(file.as_ref());
        let out = BufWriter::new(out);
        let sink = match format {
            Format::Jsonl => Sink::Jsonl(out),
            Format::Csv => Sink::Csv(
                CsvWriter::new(out).map_err(|e| Error::io(format!("cannot write {name}"), e))?,
            ),
            Format::Mot => Sink::Mot(MotWriter::new(out)),
        };
        Ok(ResultWriter {
            sink,
            file,
            frames: 0,
        })
    }

    pub fn write(&mut self, result: &FrameResult) -> Result<()> {
        let written = match &mut self.sink {
            Sink::Jsonl(out) => super::jsonl::write_record(out, result).and_then(|()| out.flush()),
            Sink::Csv(w) => w.write(result),
            Sink::Mot(w) => w.write(result),
        };
        written
            .map_err(|e| Error::io(format!("cannot write {}", describe(self.file.as_ref())), e))?;
        self.frames += 1;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Jsonl(out) => out.flush(),
            Sink::Csv(w) => w.flush(),
            Sink::Mot(w) => w.flush(),
        }
    }

    /// The run succeeded: move the file into place.
    pub fn finish(mut self) -> Result<()> {
        self.flush()
            .map_err(|e| Error::io(format!("cannot write {}", describe(self.file.as_ref())), e))?;
        match self.file.take() {
            Some(f) => f.commit().map(|_| ()),
            None => Ok(()),
        }
    }

    /// The run failed: keep what was written under the partial name (removed when no frame
    /// was written); returns that name when frames were kept.
    pub fn abandon(mut self) -> Option<PathBuf> {
        let _ = self.flush();
        let file = self.file.take()?;
        if self.frames == 0 {
            file.discard();
            return None;
        }
        Some(file.partial().to_path_buf())
    }
}

fn describe(file: Option<&PartialPath>) -> String {
    match file {
        Some(f) => f.partial().display().to_string(),
        None => "standard output".into(),
    }
}
