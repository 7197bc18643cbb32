//! An `irot` box added to a HEIF file, which libheif 1.15's encoder does not write.

/// The boxes of `bytes[range]`: (type, start, end) of each.
fn boxes(bytes: &[u8], range: std::ops::Range<usize>) -> Vec<([u8; 4], usize, usize)> {
    let mut found = Vec::new();
    let mut at = range.start;
    while at + 8 <= range.end {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        found.push((bytes[at + 4..at + 8].try_into().unwrap(), at, at + size));
        at += size;
    }
    found
}

/// A HEIF file written by libheif with an `irot` property (turn `quarters`×90° anticlockwise)
/// added to its primary item: the property at the end of `ipco`, its association in `ipma`, the
/// sizes of the boxes around them and the file offsets in `iloc` moved by what was inserted.
pub(super) fn add_irot(file: &[u8], quarters: u8) -> Vec<u8> {
    let find = |list: &[([u8; 4], usize, usize)], name: &[u8; 4]| {
        *list.iter().find(|(kind, ..)| kind == name).unwrap()
    };
    let top = boxes(file, 0..file.len());
    let (_, meta, meta_end) = find(&top, b"meta");
    let in_meta = boxes(file, meta + 12..meta_end);
    let (_, pitm, _) = find(&in_meta, b"pitm");
    let primary = u16::from_be_bytes(file[pitm + 12..pitm + 14].try_into().unwrap());
    let (_, iprp, iprp_end) = find(&in_meta, b"iprp");
    let in_iprp = boxes(file, iprp + 8..iprp_end);
    let (_, ipco, ipco_end) = find(&in_iprp, b"ipco");
    let (_, ipma, _) = find(&in_iprp, b"ipma");
    assert!(ipco < ipma, "ipco comes first");
    let index = boxes(file, ipco + 8..ipco_end).len() + 1;
    let (version, wide) = (file[ipma + 8], file[ipma + 11] & 1 == 1);
    assert_eq!(version, 0, "16-bit item ids");
    // Essential, as a transform must be.
    let association: Vec<u8> = if wide {
        (0x8000 | index as u16).to_be_bytes().to_vec()
    } else {
        vec![0x80 | index as u8]
    };
    let irot = [0, 0, 0, 9, b'i', b'r', b'o', b't', quarters & 3];

    // Where the primary item's association count is, in the ipma entries.
    let mut at = ipma + 16;
    let count_at = loop {
        let item = u16::from_be_bytes(file[at..at + 2].try_into().unwrap());
        let count = usize::from(file[at + 2]);
        if item == primary {
            break at + 2;
        }
        at += 3 + count * if wide { 2 } else { 1 };
    };
    let entry_end = count_at + 1 + usize::from(file[count_at]) * if wide { 2 } else { 1 };
    let delta = irot.len() + association.len();

    let mut out = Vec::with_capacity(file.len() + delta);
    out.extend_from_slice(&file[..ipco_end]);
    out.extend_from_slice(&irot);
    out.extend_from_slice(&file[ipco_end..entry_end]);
    out.extend_from_slice(&association);
    out.extend_from_slice(&file[entry_end..]);
    let grow = |out: &mut Vec<u8>, at: usize, by: usize| {
        let size = u32::from_be_bytes(out[at..at + 4].try_into().unwrap()) + by as u32;
        out[at..at + 4].copy_from_slice(&size.to_be_bytes());
    };
    grow(&mut out, meta, delta);
    grow(&mut out, iprp, delta);
    grow(&mut out, ipco, irot.len());
    grow(&mut out, ipma + irot.len(), association.len());
    out[count_at + irot.len()] += 1;

    // The data after meta moved: iloc's file offsets (construction method 0) follow.
    let (_, iloc, _) = find(&in_meta, b"iloc");
    assert!(iloc < ipco, "iloc comes before what grew");
    let iloc_version = out[iloc + 8];
    assert_eq!(iloc_version, 1);
    let (offset_size, length_size) = (
        usize::from(out[iloc + 12] >> 4),
        usize::from(out[iloc + 12] & 15),
    );
    let (base_size, index_size) = (
        usize::from(out[iloc + 13] >> 4),
        usize::from(out[iloc + 13] & 15),
    );
    assert_eq!((offset_size, base_size), (4, 4), "32-bit offsets");
    let items = u16::from_be_bytes(out[iloc + 14..iloc + 16].try_into().unwrap());
    let mut at = iloc + 16;
    for _ in 0..items {
        let method = out[at + 3] & 15;
        at += 6;
        if method == 0 {
            let base = u32::from_be_bytes(out[at..at + 4].try_into().unwrap()) + delta as u32;
            out[at..at + 4].copy_from_slice(&base.to_be_bytes());
        }
        at += base_size;
        let extents = u16::from_be_bytes(out[at..at + 2].try_into().unwrap());
        at += 2 + usize::from(extents) * (index_size + offset_size + length_size);
    }
    out
}
