use super::put::exact_length;
use super::*;

#[test]
fn http_is_refused_except_on_loopback() {
    assert!(parse_base_url("https://api.runflow.io").is_ok());
    assert!(parse_base_url("https://api.runflow.io/").is_ok());
    assert!(parse_base_url("http://127.0.0.1:8787").is_ok());
    assert!(parse_base_url("http://localhost:8787/").is_ok());
    assert!(parse_base_url("http://[::1]:8787").is_ok());
    let err = parse_base_url("http://api.runflow.io").unwrap_err();
    assert!(err.to_string().contains("only https://"), "{err}");
    assert!(parse_base_url("http://192.168.1.5").is_err());
    assert!(parse_base_url("ftp://127.0.0.1").is_err());
    assert!(parse_base_url("not a url").is_err());
    assert!(parse_base_url("https://api.runflow.io/v1").is_err());
    assert!(parse_storage_url("http://storage.example.com/x?sig=1").is_err());
    assert!(parse_storage_url("https://storage.runflow.io/x?sig=1").is_ok());
}

#[test]
fn ids_are_escaped_as_one_segment() {
    assert_eq!(path_segment("01J0ABC"), "01J0ABC");
    assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
}

async fn collect(chunks: Vec<&'static [u8]>, expected: u64) -> Result<Vec<u8>, std::io::Error> {
    let stream = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
    );
    let parts: Vec<Bytes> = exact_length(stream, expected).try_collect().await?;
    Ok(parts.concat())
}

#[tokio::test]
async fn exact_length_passes_matching_streams() {
    assert_eq!(collect(vec![b"abc", b"de"], 5).await.unwrap(), b"abcde");
}

#[tokio::test]
async fn exact_length_fails_on_short_or_long_streams() {
    let short = collect(vec![b"abc"], 5).await.unwrap_err();
    assert!(short.to_string().contains("shrank"));
    let long = collect(vec![b"abc", b"def"], 5).await.unwrap_err();
    assert!(long.to_string().contains("grew"));
}
