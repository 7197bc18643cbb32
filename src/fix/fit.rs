//! The fit to the size limit: the full-size copy when it fits, else the largest scaled-down one.

use image::{DynamicImage, GenericImageView};

use super::FixError;
use super::encode::{Kind, Prepared, encode, encode_scaled};

/// A copy whose long side would be shorter than this is no use: the fit gives up there.
pub(super) const MIN_LONG_SIDE: u32 = 256;
/// Encodes of scaled copies one fit may take.
const MAX_SCALED_ENCODES: usize = 6;
/// A fit this full of the limit is the answer: a few percent more bytes is about 1% more side.
const FULL_ENOUGH: f64 = 0.96;
/// Or once the largest factor that fits and the smallest that does not are this close.
const CLOSE_ENOUGH: f64 = 1.02;
/// Guesses aim this far under the limit, so they land on the side that fits.
const AIM: f64 = 0.985;
/// How bytes follow the scale until two encodes tell: as the pixels do.
const DEFAULT_EXPONENT: f64 = 2.0;

/// The encoded copy that fits.
pub(super) struct Fitted {
    pub bytes: Vec<u8>,
    /// Its type: JPEG where a lossless copy was too large (see [`fit`]).
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
    /// Whether it was scaled down to fit.
    pub scaled: bool,
}

/// An encode tried while fitting.
struct Tried {
    factor: f64,
    size: (u32, u32),
    bytes: Vec<u8>,
}

impl Tried {
    fn bytes(&self) -> f64 {
        self.bytes.len() as f64
    }
}

/// The full-size copy when it fits `limit_bytes`, else the largest scaled-down one that does.
///
/// An opaque lossless copy (a graphic) over the limit becomes a JPEG instead: scaling blends its
/// edges into new colours, and its lossless encoding then grows instead of shrinking (a 4000×3000
/// chart's PNG grew twelvefold at 70% of the size), while a JPEG keeps every pixel of it in far
/// fewer bytes. A translucent one stays lossless (JPEG has no alpha) and is scaled.
pub(super) fn fit(
    prepared: &Prepared,
    icc: Option<&[u8]>,
    limit_bytes: u64,
) -> Result<Fitted, FixError> {
    let image = &prepared.image;
    let (width, height) = image.dimensions();
    let mut kind = prepared.kind;
    let mut full = encode(image, kind, icc)?;
    if kind != Kind::Jpeg && full.len() as u64 > limit_bytes && !image.color().has_alpha() {
        kind = Kind::Jpeg;
        full = encode(image, kind, icc)?;
    }
    if full.len() as u64 <= limit_bytes {
        return Ok(Fitted {
            bytes: full,
            kind,
            width,
            height,
            scaled: false,
        });
    }
    scale(image, kind, icc, limit_bytes, full)
}

/// The search for the largest factor that fits: each guess comes from how the bytes followed
/// the scale between the two encodes nearest the limit (a power law, so a guess is close after
/// one or two encodes), kept inside the bracket of the largest fit and the smallest miss.
fn scale(
    image: &DynamicImage,
    kind: Kind,
    icc: Option<&[u8]>,
    limit_bytes: u64,
    full: Vec<u8>,
) -> Result<Fitted, FixError> {
    let (width, height) = image.dimensions();
    let long_side = width.max(height);
    let floor = f64::from(MIN_LONG_SIDE.min(long_side)) / f64::from(long_side);
    let limit = limit_bytes as f64;
    let mut fits: Option<Tried> = None;
    let mut over = Tried {
        factor: 1.0,
        size: (width, height),
        bytes: full,
    };
    let mut earlier_over: Option<Tried> = None;
    // An image already at the floor cannot go smaller: the loop ends before any encode.
    let mut factor = if long_side <= MIN_LONG_SIDE {
        1.0
    } else {
        aim(&over, DEFAULT_EXPONENT, limit).max(floor)
    };
    for _ in 0..MAX_SCALED_ENCODES {
        let size = scaled_size(width, height, factor);
        if factor >= over.factor
            || size == over.size
            || fits.as_ref().is_some_and(|fit| fit.size == size)
        {
            break;
        }
        let tried = Tried {
            factor,
            size,
            bytes: encode_scaled(image, kind, icc, size)?,
        };
        if tried.bytes() <= limit {
            fits = Some(tried);
        } else {
            earlier_over = Some(std::mem::replace(&mut over, tried));
        }
        factor = match &fits {
            None if over.factor <= floor => break,
            None => {
                let exponent = earlier_over
                    .as_ref()
                    .map_or(DEFAULT_EXPONENT, |earlier| exponent(earlier, &over));
                aim(&over, exponent, limit).max(floor)
            }
            Some(fit)
                if fit.bytes() >= limit * FULL_ENOUGH
                    || over.factor / fit.factor <= CLOSE_ENOUGH =>
            {
                break;
            }
            Some(fit) => {
                let span = over.factor - fit.factor;
                aim(fit, exponent(fit, &over), limit)
                    .clamp(fit.factor + span / 20.0, over.factor - span / 20.0)
            }
        };
    }
    match fits {
        Some(fit) => Ok(Fitted {
            bytes: fit.bytes,
            kind,
            width: fit.size.0,
            height: fit.size.1,
            scaled: true,
        }),
        None => Err(FixError::CannotFit {
            width: over.size.0,
            height: over.size.1,
            size_bytes: over.bytes.len() as u64,
            limit_bytes,
        }),
    }
}

/// How the bytes followed the scale between two encodes (bytes ∝ factor^exponent), kept to
/// plausible values: a graphic's bytes may even grow as it shrinks.
fn exponent(a: &Tried, b: &Tried) -> f64 {
    let exponent = (a.bytes() / b.bytes()).ln() / (a.factor / b.factor).ln();
    if exponent.is_finite() {
        exponent.clamp(1.0, 4.0)
    } else {
        DEFAULT_EXPONENT
    }
}

/// The factor whose encoding should come a little under `limit` bytes, from an encode `from`.
fn aim(from: &Tried, exponent: f64, limit: f64) -> f64 {
    from.factor * (limit * AIM / from.bytes()).powf(1.0 / exponent)
}

/// The sides scaled by `factor`, rounded, at least one pixel.
pub(super) fn scaled_size(width: u32, height: u32, factor: f64) -> (u32, u32) {
    let side = |pixels: u32| ((f64::from(pixels) * factor).round() as u32).max(1);
    (side(width), side(height))
}
