//! Detections as flat text tables, one row per detection: CSV for spreadsheets and scripts, and
//! the MOTChallenge format read by tracking evaluation tools.
//!
//! Both writers take any [`Write`], write each frame with one `write_all` and flush after it, so
//! a reader tailing the file sees whole frames. Numbers: `pts_ms` with 3 decimals, scores with
//! 4, coordinates with 2. [`parse_csv`] and [`parse_mot`] read the files back (for tests and
//! tools).

use crate::FrameResult;
use std::fmt::Write as _;
use std::io::{self, Write};

/// First line of every CSV file.
pub const CSV_HEADER: &str = "frame,pts_ms,track_id,label,class_id,score,x1,y1,x2,y2";

/// Writes `frame,pts_ms,track_id,label,class_id,score,x1,y1,x2,y2` rows: `frame` is the
/// 0-based frame index (as in the JSON Lines output), `track_id` is empty without tracking, and
/// the box is in source pixels.
pub struct CsvWriter<W: Write> {
    out: W,
    buf: String,
}

impl<W: Write> CsvWriter<W> {
    /// Writes the header line.
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(CSV_HEADER.as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(CsvWriter {
            out,
            buf: String::new(),
        })
    }

    /// Writes one row per detection of the frame (none for a frame without detections).
    pub fn write(&mut self, result: &FrameResult) -> io::Result<()> {
        self.buf.clear();
        let f = &result.frame;
        for d in &result.detections {
            let track = d.track_id.map(|t| t.to_string()).unwrap_or_default();
            let [x1, y1, x2, y2] = d.bbox;
            // Writing to a String cannot fail.
            let _ = writeln!(
                self.buf,
                "{},{:.3},{},{},{},{:.4},{:.2},{:.2},{:.2},{:.2}",
                f.index,
                f.pts_ms,
                track,
                csv_field(&d.label),
                d.class_id,
                d.score,
                x1,
                y1,
                x2,
                y2
            );
        }
        self.out.write_all(self.buf.as_bytes())?;
        self.out.flush()
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Writes MOTChallenge lines `frame,id,x,y,w,h,conf,-1,-1,-1`: `frame` counts from 1 (frame
/// index + 1), `id` is the track ID, or -1 for a detection without one (as in MOT detection
/// files), and `x,y` is the box's top-left corner.
pub struct MotWriter<W: Write> {
    out: W,
    buf: String,
}

impl<W: Write> MotWriter<W> {
    pub fn new(out: W) -> Self {
        MotWriter {
            out,
            buf: String::new(),
        }
    }

    /// Writes one line per detection of the frame.
    pub fn write(&mut self, result: &FrameResult) -> io::Result<()> {
        self.buf.clear();
        let frame = result.frame.index + 1;
        for d in &result.detections {
            let id = d.track_id.map_or(-1, i128::from);
            let [x1, y1, x2, y2] = d.bbox;
            let _ = writeln!(
                self.buf,
                "{frame},{id},{:.2},{:.2},{:.2},{:.2},{:.4},-1,-1,-1",
                x1,
                y1,
                x2 - x1,
                y2 - y1,
                d.score
            );
        }
        self.out.write_all(self.buf.as_bytes())?;
        self.out.flush()
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A field quoted as RFC 4180 asks when it holds a comma, quote or line break.
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// One row of a CSV file written by [`CsvWriter`].
#[derive(Clone, Debug, PartialEq)]
pub struct CsvRow {
    pub frame: u64,
    pub pts_ms: f64,
    pub track_id: Option<u64>,
    pub label: String,
    pub class_id: usize,
    pub score: f32,
    /// `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
}

/// One line of a MOTChallenge file.
#[derive(Clone, Debug, PartialEq)]
pub struct MotRow {
    /// 1-based frame number.
    pub frame: u64,
    /// Track ID, -1 for none.
    pub id: i64,
    /// `[x1, y1, x2, y2]`, converted from the file's `x, y, w, h`.
    pub bbox: [f32; 4],
    pub conf: f32,
}

fn invalid(line: usize, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("line {line}: {what}"))
}

fn num<T: std::str::FromStr>(line: usize, field: &str, name: &str) -> io::Result<T> {
    field
        .trim()
        .parse()
        .map_err(|_| invalid(line, format_args!("bad {name} {field:?}")))
}

/// Reads a CSV file written by [`CsvWriter`] (header required).
pub fn parse_csv(text: &str) -> io::Result<Vec<CsvRow>> {
    let records = csv_records(text)?;
    let mut records = records.into_iter();
    match records.next() {
        Some((_, header)) if header.join(",") == CSV_HEADER => {}
        _ => return Err(invalid(1, "missing CSV header")),
    }
    records
        .map(|(line, f)| {
            if f.len() != 10 {
                return Err(invalid(line, format_args!("{} fields, want 10", f.len())));
            }
            let track_id = match f[2].trim() {
                "" => None,
                t => Some(num(line, t, "track_id")?),
            };
            Ok(CsvRow {
                frame: num(line, &f[0], "frame")?,
                pts_ms: num(line, &f[1], "pts_ms")?,
                track_id,
                label: f[3].clone(),
                class_id: num(line, &f[4], "class_id")?,
                score: num(line, &f[5], "score")?,
                bbox: [
                    num(line, &f[6], "x1")?,
                    num(line, &f[7], "y1")?,
                    num(line, &f[8], "x2")?,
                    num(line, &f[9], "y2")?,
                ],
            })
        })
        .collect()
}

/// Reads MOTChallenge lines (at least the first 7 fields; the rest are ignored).
pub fn parse_mot(text: &str) -> io::Result<Vec<MotRow>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(k, l)| {
            let line = k + 1;
            let f: Vec<&str> = l.split(',').collect();
            if f.len() < 7 {
                return Err(invalid(line, format_args!("{} fields, want 7+", f.len())));
            }
            let (x, y): (f32, f32) = (num(line, f[2], "x")?, num(line, f[3], "y")?);
            let (w, h): (f32, f32) = (num(line, f[4], "w")?, num(line, f[5], "h")?);
            Ok(MotRow {
                frame: num(line, f[0], "frame")?,
                id: num(line, f[1], "id")?,
                bbox: [x, y, x + w, y + h],
                conf: num(line, f[6], "conf")?,
            })
        })
        .collect()
}

/// Splits CSV text into records of unquoted fields, each with the line it starts on. Quoted
/// fields may hold commas, doubled quotes and line breaks.
fn csv_records(text: &str) -> io::Result<Vec<(usize, Vec<String>)>> {
    let mut records = Vec::new();
    let (mut fields, mut field) = (Vec::new(), String::new());
    let (mut line, mut start_line) = (1, 1);
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                if !(fields.len() == 1 && fields[0].is_empty()) {
                    records.push((start_line, std::mem::take(&mut fields)));
                }
                fields.clear();
                line += 1;
                start_line = line;
            }
            (_, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
        }
    }
    if quoted {
        return Err(invalid(start_line, "unterminated quoted field"));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((start_line, fields));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Detection, Frame, StageTimings};

    fn result(index: u64, pts_ms: f64, detections: Vec<Detection>) -> FrameResult {
        FrameResult {
            frame: Frame::new(index, pts_ms, 1, 1, vec![0; 3]),
            model_id: "model".into(),
            detections,
            timings: StageTimings::default(),
            raw: None,
            predicted: Vec::new(),
        }
    }

    fn det(label: &str, track_id: Option<u64>, score: f32, bbox: [f32; 4]) -> Detection {
        Detection {
            label: label.into(),
            class_id: label.len(),
            score,
            bbox,
            keypoints: vec![[1.0, 2.0, 0.5]],
            track_id,
        }
    }

    fn sample() -> Vec<FrameResult> {
        vec![
            result(
                0,
                0.0,
                vec![
                    det("person", Some(1), 0.91234, [10.25, 20.5, 50.75, 120.0]),
                    det("dog", None, 0.3, [0.0, 0.0, 1.5, 2.25]),
                ],
            ),
            result(1, 33.3333333, Vec::new()),
            result(
                2,
                66.6666667,
                vec![
                    det("traffic, light", Some(7), 1.0, [100.0, 5.5, 110.25, 30.0]),
                    det(
                        "say \"cheese\"\nnow",
                        Some(12),
                        0.55555,
                        [1.0, 2.0, 3.0, 4.0],
                    ),
                ],
            ),
        ]
    }

    fn close(a: [f32; 4], b: [f32; 4]) -> bool {
        a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3)
    }

    #[test]
    fn csv_round_trip() {
        let frames = sample();
        let mut w = CsvWriter::new(Vec::new()).expect("header");
        for r in &frames {
            w.write(r).expect("write");
        }
        let text = String::from_utf8(w.into_inner()).expect("utf-8");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(CSV_HEADER));
        assert_eq!(
            lines.next(),
            Some("0,0.000,1,person,6,0.9123,10.25,20.50,50.75,120.00")
        );
        assert_eq!(
            lines.next(),
            Some("0,0.000,,dog,3,0.3000,0.00,0.00,1.50,2.25")
        );
        assert!(text.contains("2,66.667,7,\"traffic, light\",14,1.0000,"));
        assert!(text.contains(",12,\"say \"\"cheese\"\"\nnow\",16,0.5555,"));

        let rows = parse_csv(&text).expect("parse");
        let dets: Vec<(&FrameResult, &Detection)> = frames
            .iter()
            .flat_map(|r| r.detections.iter().map(move |d| (r, d)))
            .collect();
        assert_eq!(rows.len(), dets.len());
        for (row, (r, d)) in rows.iter().zip(dets) {
            assert_eq!(row.frame, r.frame.index);
            assert!((row.pts_ms - r.frame.pts_ms).abs() < 1e-3);
            assert_eq!(row.track_id, d.track_id);
            assert_eq!(row.label, d.label.as_ref());
            assert_eq!(row.class_id, d.class_id);
            assert!((row.score - d.score).abs() < 1e-4);
            assert!(close(row.bbox, d.bbox), "{:?} vs {:?}", row.bbox, d.bbox);
        }
    }

    #[test]
    fn csv_header_only_for_no_frames() {
        let w = CsvWriter::new(Vec::new()).expect("header");
        let text = String::from_utf8(w.into_inner()).expect("utf-8");
        assert_eq!(text, format!("{CSV_HEADER}\n"));
        assert_eq!(parse_csv(&text).expect("parse"), Vec::new());
    }

    #[test]
    fn mot_round_trip() {
        let frames = sample();
        let mut w = MotWriter::new(Vec::new());
        for r in &frames {
            w.write(r).expect("write");
        }
        let text = String::from_utf8(w.into_inner()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "1,1,10.25,20.50,40.50,99.50,0.9123,-1,-1,-1");
        assert_eq!(lines[1], "1,-1,0.00,0.00,1.50,2.25,0.3000,-1,-1,-1");
        assert_eq!(lines.len(), 4);

        let rows = parse_mot(&text).expect("parse");
        let dets: Vec<(&FrameResult, &Detection)> = frames
            .iter()
            .flat_map(|r| r.detections.iter().map(move |d| (r, d)))
            .collect();
        assert_eq!(rows.len(), dets.len());
        for (row, (r, d)) in rows.iter().zip(dets) {
            assert_eq!(row.frame, r.frame.index + 1);
            assert_eq!(row.id, d.track_id.map_or(-1, |t| t as i64));
            assert!((row.conf - d.score).abs() < 1e-4);
            assert!(close(row.bbox, d.bbox), "{:?} vs {:?}", row.bbox, d.bbox);
        }
    }

    #[test]
    fn flushes_every_frame() {
        /// Counts flushes and checks nothing is left unflushed.
        #[derive(Default)]
        struct Probe {
            data: Vec<u8>,
            flushed: usize,
            flushes: usize,
        }
        impl Write for Probe {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.data.extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                self.flushed = self.data.len();
                self.flushes += 1;
                Ok(())
            }
        }
        let mut csv = CsvWriter::new(Probe::default()).expect("header");
        let mut mot = MotWriter::new(Probe::default());
        for r in &sample() {
            csv.write(r).expect("csv");
            mot.write(r).expect("mot");
            for p in [csv.get_ref(), mot.get_ref()] {
                assert_eq!(p.flushed, p.data.len());
            }
        }
        assert_eq!(csv.get_ref().flushes, 4);
        assert_eq!(mot.get_ref().flushes, 3);
    }

    #[test]
    fn parsers_reject_bad_input() {
        assert!(parse_csv("").is_err());
        assert!(parse_csv("a,b\n").is_err());
        let bad = [
            "0,1.0,,x,1,0.5,1,2,3\n",
            "0,1.0,z,x,1,0.5,1,2,3,4\n",
            "0,1.0,,\"x,1,0.5,1,2,3,4\n",
        ];
        for row in bad {
            let text = format!("{CSV_HEADER}\n{row}");
            let err = parse_csv(&text).expect_err(row);
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        }
        assert!(parse_mot("1,2,3\n").is_err());
        assert!(parse_mot("1,2,a,4,5,6,0.5,-1,-1,-1\n").is_err());
        assert_eq!(parse_mot("\n").expect("empty"), Vec::new());
        // CRLF line ends are accepted.
        let text = format!("{CSV_HEADER}\r\n0,1.000,3,x,1,0.5000,1.00,2.00,3.00,4.00\r\n");
        assert_eq!(parse_csv(&text).expect("crlf")[0].track_id, Some(3));
    }
}
