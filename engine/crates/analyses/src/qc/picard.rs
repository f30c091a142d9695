//! Picard's metrics files as htsjdk writes them: the number format, the file layout, and the
//! statistics of htsjdk's `Histogram` that Picard's metrics are computed with.

use std::path::Path;

/// A value in a Picard metrics file.
#[derive(Clone, Debug, PartialEq)]
pub enum PVal {
    Int(i64),
    Float(f64),
    Str(String),
    Empty,
}

/// Picard's number format (htsjdk `FormatUtil` on Java 17): at most 6 decimals of the exact
/// binary value, ties (exact only) rounded down, trailing zeros dropped, never an exponent; `?`
/// for NaN and infinity (`-?` for minus infinity); a negative value keeps its sign even when it
/// rounds to 0, and the double nearest 5e-7 prints `0.000001` (a JDK 17 quirk).
pub fn picard_double(v: f64) -> String {
    if v.is_nan() || v == f64::INFINITY {
        return "?".into();
    }
    if v == f64::NEG_INFINITY {
        return "-?".into();
    }
    let neg = v.is_sign_negative();
    let a = v.abs();
    let sign = if neg { "-" } else { "" };
    if a == 5e-7 {
        return format!("{sign}0.000001");
    }
    // Exact digits (a tie at the 7th decimal needs a value that is a multiple of 2^-7, whose
    // expansion ends within 7 decimals, so 60 are plenty to tell).
    let full = format!("{a:.60}");
    let (int, frac) = full.split_once('.').unwrap_or((&full, ""));
    let (keep, rest) = frac.split_at(6);
    let up = match rest.as_bytes().first() {
        Some(b'5') => rest[1..].bytes().any(|b| b != b'0'),
        Some(&d) => d > b'5',
        None => false,
    };
    let mut digits: Vec<u8> = format!("{int}{keep}").into_bytes();
    if up {
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, b'1');
                break;
            }
            i -= 1;
            if digits[i] == b'9' {
                digits[i] = b'0';
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let n = digits.len();
    let int_part = String::from_utf8_lossy(&digits[..n - 6]).to_string();
    let frac_part = String::from_utf8_lossy(&digits[n - 6..]).to_string();
    let frac_part = frac_part.trim_end_matches('0');
    if frac_part.is_empty() {
        format!("{sign}{int_part}")
    } else {
        format!("{sign}{int_part}.{frac_part}")
    }
}

impl PVal {
    fn text(&self) -> String {
        match self {
            PVal::Int(i) => i.to_string(),
            PVal::Float(f) => picard_double(*f),
            PVal::Str(s) => s.clone(),
            PVal::Empty => String::new(),
        }
    }
}

/// A Picard-style metrics file: the header lines MultiQC reads (`# TOOL INPUT=...` names the
/// sample), one metrics table and an optional histogram.
pub fn picard_file(
    tool: &str,
    sample: &str,
    input: &Path,
    class: &str,
    keys: &[&str],
    rows: &[Vec<PVal>],
    histogram: Option<(&[&str], &[Vec<PVal>])>,
) -> String {
    let mut s = format!(
        "## htsjdk.samtools.metrics.StringHeader\n# {tool} INPUT={} FILE={} (written by kasane {} \
         in Picard's format; INPUT is the sample, as MultiQC names reports after it)\n## \
         htsjdk.samtools.metrics.StringHeader\n\n## METRICS CLASS\t{class}\n",
        sample.replace(char::is_whitespace, "_"),
        input.display(),
        crate::VERSION
    );
    s.push_str(&keys.join("\t"));
    s.push('\n');
    for r in rows {
        s.push_str(&r.iter().map(PVal::text).collect::<Vec<_>>().join("\t"));
        s.push('\n');
    }
    s.push('\n');
    if let Some((head, hrows)) = histogram {
        s.push_str("## HISTOGRAM\tjava.lang.Integer\n");
        s.push_str(&head.join("\t"));
        s.push('\n');
        for r in hrows {
            s.push_str(&r.iter().map(PVal::text).collect::<Vec<_>>().join("\t"));
            s.push('\n');
        }
        s.push('\n');
    } else {
        // Picard ends a file without a histogram with a second blank line.
        s.push('\n');
    }
    s
}

/// htsjdk's `Histogram` statistics over (value, count) bins in ascending order.
pub mod hist {
    use std::collections::BTreeMap;

    pub fn count(h: &BTreeMap<u64, u64>) -> f64 {
        h.values().map(|&c| c as f64).sum()
    }

    pub fn mean(h: &BTreeMap<u64, u64>) -> f64 {
        let (mut s, mut n) = (0f64, 0f64);
        for (&k, &c) in h {
            s += k as f64 * c as f64;
            n += c as f64;
        }
        s / n
    }

    /// Sample standard deviation (n - 1), as htsjdk.
    pub fn sd(h: &BTreeMap<u64, u64>) -> f64 {
        let m = mean(h);
        let (mut s, mut n) = (0f64, 0f64);
        for (&k, &c) in h {
            s += c as f64 * (k as f64 - m).powi(2);
            n += c as f64;
        }
        (s / (n - 1.0)).sqrt()
    }

    /// htsjdk's `getMedian`: the mean of the two middle values for an even count.
    pub fn median_f(bins: &[(f64, f64)]) -> f64 {
        let count: f64 = bins.iter().map(|b| b.1).sum();
        if count == 0.0 {
            return 0.0;
        }
        if count == 1.0 {
            return bins.iter().find(|b| b.1 > 0.0).map_or(0.0, |b| b.0);
        }
        let (lo, hi) = if count % 2.0 == 0.0 {
            (count / 2.0, count / 2.0 + 1.0)
        } else {
            ((count / 2.0).ceil(), (count / 2.0).ceil())
        };
        let (mut total, mut low, mut high) = (0f64, None, None);
        for &(v, c) in bins {
            total += c;
            if low.is_none() && total >= lo {
                low = Some(v);
            }
            if high.is_none() && total >= hi {
                high = Some(v);
            }
            if low.is_some() && high.is_some() {
                break;
            }
        }
        (low.unwrap_or(0.0) + high.unwrap_or(0.0)) / 2.0
    }

    pub fn median(h: &BTreeMap<u64, u64>) -> f64 {
        let bins: Vec<(f64, f64)> = h.iter().map(|(&k, &c)| (k as f64, c as f64)).collect();
        median_f(&bins)
    }

    /// htsjdk's `getMedianAbsoluteDeviation`: the median of |value - median|.
    pub fn mad(h: &BTreeMap<u64, u64>) -> f64 {
        let m = median(h);
        let mut dev: BTreeMap<u64, f64> = BTreeMap::new();
        for (&k, &c) in h {
            // Deviations are whole or half numbers: keyed by twice their value.
            let d = ((k as f64 - m).abs() * 2.0).round() as u64;
            *dev.entry(d).or_default() += c as f64;
        }
        let bins: Vec<(f64, f64)> = dev.iter().map(|(&k, &c)| (k as f64 / 2.0, c)).collect();
        median_f(&bins)
    }

    /// The value with the highest count (the first such).
    pub fn mode(h: &BTreeMap<u64, u64>) -> u64 {
        let mut best = (0u64, 0u64);
        for (&k, &c) in h {
            if c > best.1 {
                best = (k, c);
            }
        }
        best.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picard_doubles() {
        assert_eq!(picard_double(0.5), "0.5");
        assert_eq!(picard_double(30.0), "30");
        assert_eq!(picard_double(0.1234567), "0.123457");
        assert_eq!(picard_double(f64::NAN), "?");
        assert_eq!(picard_double(f64::NEG_INFINITY), "-?");
        assert_eq!(picard_double(-0.0000001), "-0");
        assert_eq!(picard_double(0.0078125), "0.007812");
        assert_eq!(picard_double(3.0078125), "3.007812");
        assert_eq!(picard_double(0.9999996), "1");
        assert_eq!(picard_double(5e-7), "0.000001");
        assert_eq!(picard_double(1e20), "100000000000000000000");
    }
}
