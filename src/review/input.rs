//! Where a review reads audit events from: files (gzip recognised by its magic bytes, not its
//! name), directories of rotated files, stdin; and their lines, one at a time with a cap, so a
//! multi-GB log is read in bounded memory.

use super::error::ReviewError;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

/// The longest line read (an EventList of a webhook batch can be large); longer lines are
/// skipped and counted.
pub const MAX_LINE: usize = 64 << 20;

/// One source of lines, with the name it is reported under.
pub struct Source {
    pub name: String,
    pub reader: Box<dyn BufRead>,
}

/// The sources named by `--audit-log` values, in order: `-` is stdin, a directory is every
/// regular file in it (sorted by name). Every file is opened here, before anything else
/// happens, so a missing one fails the command at once.
pub fn open_all(paths: &[PathBuf]) -> Result<Vec<Source>, ReviewError> {
    let mut sources = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            sources.push(Source {
                name: "stdin".into(),
                reader: decoded(Box::new(io::stdin().lock())).map_err(|e| unreadable(path, e))?,
            });
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|e| unreadable(path, e))?;
        if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| unreadable(path, e))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(ReviewError::EmptyDirectory {
                    path: path.display().to_string(),
                });
            }
            for f in files {
                sources.push(open_file(&f)?);
            }
        } else {
            sources.push(open_file(path)?);
        }
    }
    Ok(sources)
}

fn open_file(path: &Path) -> Result<Source, ReviewError> {
    let file = File::open(path).map_err(|e| unreadable(path, e))?;
    let reader = decoded(Box::new(BufReader::with_capacity(1 << 20, file)))
        .map_err(|e| unreadable(path, e))?;
    Ok(Source {
        name: path.display().to_string(),
        reader,
    })
}

fn unreadable(path: &Path, cause: io::Error) -> ReviewError {
    ReviewError::Unreadable {
        path: path.display().to_string(),
        cause,
    }
}

/// `reader` itself, or its gzip decoding (every member: rotated logs are often concatenated).
fn decoded(mut reader: Box<dyn BufRead>) -> io::Result<Box<dyn BufRead>> {
    let head = reader.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(reader)
    }
}

/// What `next_line` read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line is in the buffer (without its line break).
    Read,
    /// A line longer than the cap was skipped.
    TooLong,
    End,
}

/// Reads the next line of `reader` into `buf` (cleared first), at most `cap` bytes.
pub fn next_line(reader: &mut dyn BufRead, buf: &mut Vec<u8>, cap: usize) -> io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if !too_long && buf.len() + take <= cap {
            buf.extend_from_slice(&chunk[..take]);
        } else {
            too_long = true;
            buf.clear();
        }
        reader.consume(if done { take + 1 } else { take });
        if done {
            break;
        }
    }
    Ok(match (any, too_long) {
        (false, _) => Line::End,
        (true, true) => Line::TooLong,
        (true, false) => Line::Read,
    })
}

/// Reads all of `r` (tests).
#[cfg(test)]
pub fn lines_of(mut r: impl io::Read, cap: usize) -> Vec<Result<String, ()>> {
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    let mut reader = decoded(Box::new(io::Cursor::new(all))).unwrap();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    loop {
        match next_line(&mut *reader, &mut buf, cap).unwrap() {
            Line::Read => out.push(Ok(String::from_utf8_lossy(&buf).into_owned())),
            Line::TooLong => out.push(Err(())),
            Line::End => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn lines_longer_than_the_cap_are_skipped_and_the_next_one_is_whole() {
        let text = format!("short\n{}\nafter\ntail-no-nl", "y".repeat(100));
        let lines = lines_of(text.as_bytes(), 10);
        assert_eq!(
            lines,
            [
                Ok("short".into()),
                Err(()),
                Ok("after".into()),
                Ok("tail-no-nl".into())
            ]
        );
    }

    #[test]
    fn gzip_is_recognised_by_its_magic_bytes_and_every_member_is_read() {
        let mut gz = Vec::new();
        for part in ["one\ntwo\n", "three\n"] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part.as_bytes()).unwrap();
            gz.extend(enc.finish().unwrap());
        }
        let lines = lines_of(&gz[..], 100);
        assert_eq!(
            lines,
            [Ok("one".into()), Ok("two".into()), Ok("three".into())]
        );
    }

    #[test]
    fn a_directory_is_every_file_in_it_and_a_missing_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("audit-2.log"), "b\n").unwrap();
        std::fs::write(dir.path().join("audit-1.log"), "a\n").unwrap();
        let sources = open_all(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        assert!(names[0].ends_with("audit-1.log") && names[1].ends_with("audit-2.log"));
        let missing = open_all(&[dir.path().join("nope.log")]).err().unwrap();
        assert!(
            matches!(missing, ReviewError::Unreadable { .. }),
            "{missing}"
        );
        let empty = tempfile::tempdir().unwrap();
        let err = open_all(&[empty.path().to_path_buf()]).err().unwrap();
        assert!(matches!(err, ReviewError::EmptyDirectory { .. }), "{err}");
    }
}
