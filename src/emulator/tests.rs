use super::*;

#[test]
fn mime_override_groups_by_top_level_type() {
    let types =
        asset_types_from(&["image/png".into(), "audio/ogg".into(), "image/png".into()]).unwrap();
    assert_eq!(types.len(), 2);
    assert_eq!(types[0].name, "image");
    assert_eq!(types[0].mime_types, vec!["image/png"]);
    assert_eq!(types[1].name, "audio");
    assert!(asset_types_from(&["application/pdf".into()]).is_err());
    assert!(asset_types_from(&["png".into()]).is_err());
    assert_eq!(asset_types_from(&[]).unwrap(), default_asset_types());
}

#[test]
fn mime_aliases_are_canonical() {
    assert_eq!(canonical_mime("audio/x-wav"), "audio/wav");
    assert_eq!(canonical_mime("IMAGE/JPG"), "image/jpeg");
    assert_eq!(canonical_mime("audio/mp3"), "audio/mpeg");
    assert_eq!(canonical_mime("image/png"), "image/png");
    assert_eq!(canonical_mime("application/x-thing"), "application/x-thing");
}

#[test]
fn unspecified_bind_addresses_are_advertised_as_loopback() {
    assert_eq!(
        base_url("0.0.0.0:8787".parse().unwrap(), false),
        "http://127.0.0.1:8787"
    );
    assert_eq!(
        base_url("[::1]:9".parse().unwrap(), false),
        "http://[::1]:9"
    );
    assert_eq!(
        base_url("127.0.0.1:9".parse().unwrap(), true),
        "https://127.0.0.1:9"
    );
}
