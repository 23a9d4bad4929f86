//! Compressors as code-length oracles.
//!
//! The engine never needs compressed bytes, only their length: `C(x)` for the
//! NCD formula and `C(x | baseline)` for per-event scores. A [`Prepared`] baseline
//! is built once per refresh (a zstd `CDict`, or the raw dictionary bytes for lz4
//! and deflate) so scoring an event never recompresses the baseline.

use std::cell::RefCell;
use std::io::Write;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zstd::zstd_safe::{self, CCtx, CDict};

use crate::error::{EngineError, Result};

/// zstd level used everywhere: fast on ~100-byte inputs and still finds the
/// long matches against the dictionary that carry the signal.
const ZSTD_LEVEL: i32 = 3;
/// Deflate and lz4 only look back this far, so a longer dictionary is wasted work.
const WINDOW_DICT_LIMIT: usize = 32 * 1024;

/// A compressor a client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CompressorKind {
    #[default]
    Zstd,
    Lz4,
    Gzip,
    /// Accepted for compatibility; runs as zstd.
    Openzl,
}

impl CompressorKind {
    /// The compressor that actually runs.
    pub fn effective(self) -> CompressorKind {
        match self {
            CompressorKind::Openzl => CompressorKind::Zstd,
            k => k,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CompressorKind::Zstd => "zstd",
            CompressorKind::Lz4 => "lz4",
            CompressorKind::Gzip => "gzip",
            CompressorKind::Openzl => "openzl",
        }
    }
}

impl std::str::FromStr for CompressorKind {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "zstd" => Ok(CompressorKind::Zstd),
            "lz4" => Ok(CompressorKind::Lz4),
            "gzip" | "deflate" => Ok(CompressorKind::Gzip),
            "openzl" => Ok(CompressorKind::Openzl),
            other => Err(EngineError::Config {
                field: "compressor",
                reason: format!(
                    "unknown compressor `{other}` (expected zstd, lz4, gzip or openzl)"
                ),
            }),
        }
    }
}

thread_local! {
    // A zstd context allocates its workspace on first use; one per thread keeps
    // the per-event cost at the compression itself.
    static ZSTD_CCTX: RefCell<CCtx<'static>> = RefCell::new(CCtx::create());
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(4096));
}

fn zstd_len(src: &[u8], cdict: Option<&CDict<'_>>) -> Result<usize> {
    ZSTD_CCTX.with(|cctx| {
        SCRATCH.with(|buf| {
            let mut cctx = cctx.borrow_mut();
            let mut buf = buf.borrow_mut();
            buf.clear();
            buf.reserve(zstd_safe::compress_bound(src.len()));
            let n = match cdict {
                Some(d) => cctx.compress_using_cdict(&mut *buf, src, d),
                None => cctx.compress(&mut *buf, src, ZSTD_LEVEL),
            };
            n.map_err(|code| EngineError::Compression(zstd_safe::get_error_name(code).to_string()))
        })
    })
}

fn lz4_len(src: &[u8], dict: &[u8]) -> Result<usize> {
    SCRATCH.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        buf.resize(lz4_flex::block::get_maximum_output_size(src.len()), 0);
        lz4_flex::block::compress_into_with_dict(src, &mut buf, dict)
            .map_err(|e| EngineError::Compression(e.to_string()))
    })
}

fn deflate_len(src: &[u8], dict: &[u8]) -> Result<usize> {
    let mut c = flate2::Compress::new(flate2::Compression::new(6), false);
    if !dict.is_empty() {
        c.set_dictionary(dict)
            .map_err(|e| EngineError::Compression(e.to_string()))?;
    }
    SCRATCH.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        buf.reserve(src.len() + src.len() / 8 + 64);
        c.compress_vec(src, &mut buf, flate2::FlushCompress::Finish)
            .map_err(|e| EngineError::Compression(e.to_string()))?;
        Ok(c.total_out() as usize)
    })
}

/// Compressed length of `data` alone, `C(x)`.
pub fn compressed_len(kind: CompressorKind, data: &[u8]) -> Result<usize> {
    match kind.effective() {
        CompressorKind::Lz4 => lz4_len(data, &[]),
        CompressorKind::Gzip => deflate_len(data, &[]),
        _ => zstd_len(data, None),
    }
}

/// Compressed length of the concatenation `xy` without building it on the heap
/// more than once per thread.
pub fn compressed_len_concat(kind: CompressorKind, x: &[u8], y: &[u8]) -> Result<usize> {
    thread_local! {
        static JOIN: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    JOIN.with(|j| {
        let mut j = j.borrow_mut();
        j.clear();
        j.write_all(x).and_then(|_| j.write_all(y)).ok();
        compressed_len(kind, &j)
    })
}

/// A baseline prepared for conditional code lengths `C(x | baseline)`.
///
/// Cloning is cheap (the dictionary is shared).
#[derive(Clone)]
pub struct Prepared {
    kind: CompressorKind,
    inner: Arc<PreparedInner>,
}

struct PreparedInner {
    cdict: Option<CDict<'static>>,
    raw: Vec<u8>,
    /// What an empty input costs given this dictionary: the frame overhead,
    /// subtracted so that scores measure information, not headers.
    overhead: usize,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("kind", &self.kind)
            .field("dict_bytes", &self.inner.raw.len())
            .finish()
    }
}

impl Prepared {
    /// Prepares `dictionary` (the baseline's encoded events, oldest first, so the
    /// newest sit closest to the input, where every compressor finds them).
    pub fn new(kind: CompressorKind, dictionary: &[u8]) -> Result<Self> {
        let kind = kind.effective();
        let (cdict, raw) = match kind {
            CompressorKind::Zstd => {
                let d = CDict::try_create(dictionary, ZSTD_LEVEL).ok_or_else(|| {
                    EngineError::Compression("zstd could not build a dictionary".into())
                })?;
                (Some(d), Vec::new())
            }
            _ => {
                let start = dictionary.len().saturating_sub(WINDOW_DICT_LIMIT);
                (None, dictionary[start..].to_vec())
            }
        };
        let mut inner = PreparedInner {
            cdict,
            raw,
            overhead: 0,
        };
        inner.overhead = Self::raw_len(kind, &inner, &[])?;
        Ok(Self {
            kind,
            inner: Arc::new(inner),
        })
    }

    fn raw_len(kind: CompressorKind, inner: &PreparedInner, data: &[u8]) -> Result<usize> {
        match kind {
            CompressorKind::Lz4 => lz4_len(data, &inner.raw),
            CompressorKind::Gzip => deflate_len(data, &inner.raw),
            _ => zstd_len(data, inner.cdict.as_ref()),
        }
    }

    /// `C(x | baseline)` in bytes, net of the empty-input overhead.
    pub fn conditional_len(&self, data: &[u8]) -> Result<usize> {
        Ok(Self::raw_len(self.kind, &self.inner, data)?.saturating_sub(self.inner.overhead))
    }

    pub fn kind(&self) -> CompressorKind {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: usize) -> String {
        format!(r#"{{"level":"INFO","msg":"GET /api/orders/<id> 200","svc":"checkout","n":{i}}}"#)
    }

    #[test]
    fn conditional_length_is_small_for_repeats_and_large_for_novelty() {
        for kind in [
            CompressorKind::Zstd,
            CompressorKind::Lz4,
            CompressorKind::Gzip,
        ] {
            let dict: String = (0..200).map(sample).collect();
            let p = Prepared::new(kind, dict.as_bytes()).unwrap();
            let seen = p.conditional_len(sample(3).as_bytes()).unwrap();
            let novel = p
                .conditional_len(
                    br#"{"kernel":"panic: unable to mount root fs on unknown-block(0,0)"}"#,
                )
                .unwrap();
            assert!(seen * 3 < novel, "{kind:?}: seen {seen} novel {novel}");
        }
    }

    #[test]
    fn openzl_runs_as_zstd() {
        assert_eq!(CompressorKind::Openzl.effective(), CompressorKind::Zstd);
        let a = compressed_len(CompressorKind::Openzl, b"hello hello hello").unwrap();
        let b = compressed_len(CompressorKind::Zstd, b"hello hello hello").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn unknown_compressor_names_the_field() {
        let e = "brotli".parse::<CompressorKind>().unwrap_err();
        assert!(e.to_string().contains("compressor"));
    }
}
