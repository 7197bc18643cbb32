//! Which image format a file is, from its first bytes.

/// An image format this module knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Format {
    /// How a message calls it: "HEIC", "JPEG XL".
    pub label: &'static str,
    /// Its MIME type: "image/heic".
    pub mime_type: &'static str,
}

impl Format {
    /// Portable Network Graphics.
    pub const PNG: Format = Format::new("PNG", "image/png");
    /// JPEG (JFIF, Exif).
    pub const JPEG: Format = Format::new("JPEG", "image/jpeg");
    /// GIF.
    pub const GIF: Format = Format::new("GIF", "image/gif");
    /// WebP.
    pub const WEBP: Format = Format::new("WebP", "image/webp");
    /// TIFF (and BigTIFF).
    pub const TIFF: Format = Format::new("TIFF", "image/tiff");
    /// Windows bitmap.
    pub const BMP: Format = Format::new("BMP", "image/bmp");
    /// HEIF with HEVC images, as iPhones take them.
    pub const HEIC: Format = Format::new("HEIC", "image/heic");
    /// HEIF of another or no named codec.
    pub const HEIF: Format = Format::new("HEIF", "image/heif");
    /// AVIF (HEIF with AV1 images).
    pub const AVIF: Format = Format::new("AVIF", "image/avif");
    /// Windows icon.
    pub const ICO: Format = Format::new("ICO", "image/vnd.microsoft.icon");
    /// Truevision TGA, which has no signature: known by its extension.
    pub const TGA: Format = Format::new("TGA", "image/x-tga");
    /// Netpbm (PBM, PGM, PPM, PAM).
    pub const PNM: Format = Format::new("PNM", "image/x-portable-anymap");
    /// The Quite OK Image format.
    pub const QOI: Format = Format::new("QOI", "image/qoi");
    /// JPEG XL (bare codestream or container).
    pub const JXL: Format = Format::new("JPEG XL", "image/jxl");

    /// Every format known here.
    pub const ALL: [Format; 14] = [
        Format::PNG,
        Format::JPEG,
        Format::GIF,
        Format::WEBP,
        Format::TIFF,
        Format::BMP,
        Format::HEIC,
        Format::HEIF,
        Format::AVIF,
        Format::ICO,
        Format::TGA,
        Format::PNM,
        Format::QOI,
        Format::JXL,
    ];

    const fn new(label: &'static str, mime_type: &'static str) -> Format {
        Format { label, mime_type }
    }

    /// HEIC, HEIF and AVIF: the formats libheif decodes.
    pub fn is_heif(self) -> bool {
        [Format::HEIC, Format::HEIF, Format::AVIF].contains(&self)
    }
}

/// The format of an image file from its first bytes (up to 8 KiB are passed), else, for formats
/// without a signature (TGA), its name's extension. None when it is no image format known here.
pub fn format_of(name: &str, head: &[u8]) -> Option<Format> {
    let starts = |signature: &[u8]| head.starts_with(signature);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some(Format::PNG)
    } else if starts(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::JPEG)
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some(Format::GIF)
    } else if starts(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        Some(Format::WEBP)
    } else if [b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"]
        .iter()
        .any(|s| starts(*s))
    {
        // Most camera raw files are TIFF inside; decoded as TIFF they would give the small
        // preview they carry, not the photo.
        (!is_camera_raw(name)).then_some(Format::TIFF)
    } else if is_bmp(head) {
        Some(Format::BMP)
    } else if starts(b"qoif") {
        Some(Format::QOI)
    } else if starts(&[0xFF, 0x0A]) || starts(b"\0\0\0\x0cJXL \r\n\x87\n") {
        Some(Format::JXL)
    } else if head.get(4..8) == Some(b"ftyp") {
        heif_brand(head)
    } else if is_ico(head) {
        Some(Format::ICO)
    } else if is_pnm(head) {
        Some(Format::PNM)
    } else if extension(name).is_some_and(|ext| ext.eq_ignore_ascii_case("tga")) && is_tga(head) {
        Some(Format::TGA)
    } else {
        None
    }
}

/// Whether this build can decode `format` (HEIC/HEIF/AVIF only in the HEIC-enabled build).
pub fn can_decode(format: Format) -> bool {
    Format::ALL.contains(&format)
        && (!format.is_heif() || cfg!(all(feature = "heic", target_os = "linux")))
}

fn extension(name: &str) -> Option<&str> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.rfind('.')
        .filter(|dot| *dot > 0)
        .map(|dot| &base[dot + 1..])
}

fn is_camera_raw(name: &str) -> bool {
    const RAW: [&str; 16] = [
        "arw", "cr2", "dcr", "dng", "erf", "iiq", "k25", "kdc", "mef", "mos", "nef", "nrw", "orf",
        "pef", "rw2", "srw",
    ];
    extension(name).is_some_and(|ext| RAW.iter().any(|raw| ext.eq_ignore_ascii_case(raw)))
}

/// "BM" is short; the size of the header after it (one of the few BMP versions) confirms it.
fn is_bmp(head: &[u8]) -> bool {
    let Some(header) = head.get(14..18) else {
        return false;
    };
    let header_bytes = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    head.starts_with(b"BM") && [12, 16, 40, 52, 56, 64, 108, 124].contains(&header_bytes)
}

/// Reserved zero, type 1 (icon; 2 would be a cursor), at least one image.
fn is_ico(head: &[u8]) -> bool {
    head.len() >= 22 && head.starts_with(&[0, 0, 1, 0]) && head[4..6] != [0, 0] && head[9] == 0
}

/// "P1" to "P7" followed by whitespace.
fn is_pnm(head: &[u8]) -> bool {
    matches!(head, [b'P', b'1'..=b'7', space, ..] if space.is_ascii_whitespace())
}

/// TGA's header has no magic number; its colour map and image type fields have few valid values.
fn is_tga(head: &[u8]) -> bool {
    head.len() >= 18 && head[1] <= 1 && [1, 2, 3, 9, 10, 11].contains(&head[2])
}

/// HEIF, HEIC or AVIF from an ISO base media `ftyp` box: the major brand, else the compatible
/// brands. Other `ftyp` files (MP4, MOV, 3GP) are video.
fn heif_brand(head: &[u8]) -> Option<Format> {
    const AVIF: [&[u8]; 2] = [b"avif", b"avis"];
    const HEIC: [&[u8]; 8] = [
        b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
    ];
    const HEIF: [&[u8]; 2] = [b"mif1", b"msf1"];
    let box_bytes = u32::from_be_bytes(head.get(0..4)?.try_into().ok()?) as usize;
    let major = head.get(8..12)?;
    let compatible: Vec<&[u8]> = head
        .get(16..box_bytes.min(head.len()))
        .unwrap_or_default()
        .chunks_exact(4)
        .collect();
    let is = |brands: &[&[u8]], brand: &[u8]| brands.contains(&brand);
    if is(&AVIF, major) {
        Some(Format::AVIF)
    } else if is(&HEIC, major) {
        Some(Format::HEIC)
    } else if compatible.iter().any(|b| is(&AVIF, b)) {
        Some(Format::AVIF)
    } else if compatible.iter().any(|b| is(&HEIC, b)) {
        Some(Format::HEIC)
    } else if is(&HEIF, major) || compatible.iter().any(|b| is(&HEIF, b)) {
        Some(Format::HEIF)
    } else {
        None
    }
}
