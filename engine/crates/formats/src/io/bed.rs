//! BED regions (plain or gzip-compressed) and `chrom[:start-end]` region strings.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub chrom: String,
    pub start: u64,
    pub end: u64,
    /// The BED name column, if any.
    pub name: Option<String>,
}

/// BED regions grouped by contig, each group sorted by start (ties keep file order), plus the
/// contigs in order of first appearance.
#[derive(Debug, Default)]
pub struct BedRegions {
    pub by_chrom: HashMap<String, Vec<Region>>,
    pub chrom_order: Vec<String>,
}

impl BedRegions {
    pub fn read(path: &Path) -> Result<Self> {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut magic = [0u8; 2];
        let mut head = BufReader::new(f);
        let gz = {
            let buf = head.fill_buf().map_err(|e| Error::io(path, e))?;
            if buf.len() >= 2 {
                magic.copy_from_slice(&buf[..2]);
            }
            magic == [0x1f, 0x8b]
        };
        let reader: Box<dyn Read> = if gz {
            Box::new(flate2::read::MultiGzDecoder::new(head))
        } else {
            Box::new(head)
        };
        Self::parse(BufReader::new(reader), path)
    }

    pub fn parse(reader: impl BufRead, path: &Path) -> Result<Self> {
        let mut out = BedRegions::default();
        for (i, line) in reader.split(b'\n').enumerate() {
            let lineno = i + 1;
            let line = line.map_err(|e| Error::io(path, e))?;
            let bad = |msg: String| Error::Bed {
                path: path.to_path_buf(),
                line: lineno,
                msg,
            };
            let line = String::from_utf8(line).map_err(|_| bad("line is not valid text".into()))?;
            if line.starts_with("track ") || line.starts_with("browser ") || line.starts_with('#') {
                continue;
            }
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            let f: Vec<&str> = trimmed.splitn(5, '\t').collect();
            if f.len() < 3 {
                return Err(bad(format!(
                    "expected at least 3 tab-separated columns (chrom, start, end), found {}",
                    f.len()
                )));
            }
            let num = |s: &str, what: &str| -> Result<u64> {
                s.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|v| *v <= u32::MAX as u64)
                    .ok_or_else(|| bad(format!("{what} '{s}' is not a non-negative integer")))
            };
            let start = num(f[1], "start")?;
            let end = num(f[2], "end")?;
            if start > end {
                return Err(bad(format!("start {start} is greater than end {end}")));
            }
            let name = f.get(3).filter(|s| !s.is_empty()).map(|s| s.to_string());
            let chrom = f[0].to_string();
            let list = out.by_chrom.entry(chrom.clone()).or_insert_with(|| {
                out.chrom_order.push(chrom.clone());
                Vec::new()
            });
            list.push(Region {
                chrom,
                start,
                end,
                name,
            });
        }
        for list in out.by_chrom.values_mut() {
            list.sort_by_key(|r| r.start);
        }
        Ok(out)
    }
}

/// Parses `chrom`, `chrom:start-end` (1-based, inclusive) as mosdepth's `-c` does.
pub fn parse_region(s: &str) -> Result<Region> {
    let bad = || {
        Error::Usage(format!(
            "invalid region '{s}': expected CHROM or CHROM:START-END"
        ))
    };
    match s.rsplit_once(':') {
        None => Ok(Region {
            chrom: s.to_string(),
            start: 0,
            end: 0,
            name: None,
        }),
        Some((chrom, span)) => {
            let (a, b) = span.split_once('-').ok_or_else(bad)?;
            let start: u64 = a.replace(',', "").parse().map_err(|_| bad())?;
            let end: u64 = b.replace(',', "").parse().map_err(|_| bad())?;
            if start == 0 || end < start {
                return Err(bad());
            }
            Ok(Region {
                chrom: chrom.to_string(),
                start: start - 1,
                end,
                name: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_skips_headers() {
        let text = b"track name=x\n#c\nchr1\t10\t20\ta\nchr1\t5\t8\nchr2\t0\t1\n\nchr1\t5\t6\tb\n";
        let r = BedRegions::parse(&text[..], Path::new("x.bed")).unwrap();
        let c1 = &r.by_chrom["chr1"];
        assert_eq!(
            c1.iter().map(|r| (r.start, r.end)).collect::<Vec<_>>(),
            vec![(5, 8), (5, 6), (10, 20)]
        );
        assert_eq!(c1[2].name.as_deref(), Some("a"));
        assert_eq!(r.chrom_order, vec!["chr1", "chr2"]);
    }

    #[test]
    fn errors_name_file_and_line() {
        let e =
            BedRegions::parse(&b"chr1\t1\t2\nchr1\tabc\t5\n"[..], Path::new("r.bed")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.bed:2: start 'abc' is not a non-negative integer"
        );
        let e = BedRegions::parse(&b"chr1\t7\n"[..], Path::new("r.bed")).unwrap_err();
        assert!(e.to_string().starts_with("r.bed:1: expected at least 3"));
        let e = BedRegions::parse(&b"chr1\t9\t7\n"[..], Path::new("r.bed")).unwrap_err();
        assert!(e.to_string().contains("greater than end"));
    }

    #[test]
    fn region_strings() {
        assert_eq!(parse_region("chr2").unwrap().chrom, "chr2");
        let r = parse_region("chr1:101-200").unwrap();
        assert_eq!((r.start, r.end), (100, 200));
        assert!(parse_region("chr1:x-2").is_err());
    }
}
