use super::*;
use crate::emulator::query::FieldKind;

#[derive(Debug)]
struct Row {
    id: Uuid,
    name: String,
    size: i64,
}

impl Record for Row {
    const FIELDS: &'static [(&'static str, FieldKind, bool)] = &[
        ("name", FieldKind::Text, true),
        ("size_bytes", FieldKind::Int, true),
        ("created_at", FieldKind::Int, true),
        ("folder_id", FieldKind::Id, false),
    ];
    fn id(&self) -> Uuid {
        self.id
    }
    fn field(&self, name: &str) -> FieldValue {
        match name {
            "name" => FieldValue::Text(self.name.clone()),
            "size_bytes" | "created_at" => FieldValue::Int(self.size),
            _ => FieldValue::Null,
        }
    }
}

fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| Row {
            id: Uuid::new_v4(),
            name: format!("f{:02}", i % 7),
            size: i64::try_from(i % 3).unwrap(),
        })
        .collect()
}

fn params(query: &str) -> QueryParams {
    QueryParams::parse(Some(query))
}

fn walk(rows: &[Row], query: &str, signer: &Signer) -> Vec<Uuid> {
    let mut seen = Vec::new();
    let mut page = list("rows", &params(query), rows.iter(), signer).unwrap();
    loop {
        seen.extend(page.items.iter().map(|r| r.id));
        let Some(next) = page.next else { break };
        let query = format!("pq={next}");
        page = list("rows", &params(&query), rows.iter(), signer).unwrap();
    }
    seen
}

#[test]
fn sort_parsing() {
    let keys = parse_sort::<Row>("name:desc, size_bytes").unwrap();
    assert_eq!(canonical_sort(&keys), "name:desc,size_bytes:asc");
    assert!(parse_sort::<Row>("folder_id:asc").is_err());
    assert!(parse_sort::<Row>("nope:asc").is_err());
    assert!(parse_sort::<Row>("name:up").is_err());
    assert!(parse_sort::<Row>("name,name:desc").is_err());
}

#[test]
fn pages_cover_everything_once_in_order_with_ties() {
    let signer = Signer::random();
    let rows = rows(23);
    let seen = walk(&rows, "limit=5&sort_by=size_bytes:desc,name:asc", &signer);
    let keys = parse_sort::<Row>("size_bytes:desc,name:asc").unwrap();
    let mut expected: Vec<&Row> = rows.iter().collect();
    expected.sort_by(|a, b| compare(*a, *b, &keys));
    assert_eq!(seen, expected.iter().map(|r| r.id).collect::<Vec<_>>());
}

#[test]
fn previous_walks_back_and_ends_are_null() {
    let signer = Signer::random();
    let rows = rows(12);
    let first = list(
        "rows",
        &params("limit=5&sort_by=name"),
        rows.iter(),
        &signer,
    )
    .unwrap();
    assert!(first.previous.is_none());
    let next = first.next.clone().unwrap();
    let second = list("rows", &params(&format!("pq={next}")), rows.iter(), &signer).unwrap();
    let prev = second.previous.clone().unwrap();
    let back = list("rows", &params(&format!("pq={prev}")), rows.iter(), &signer).unwrap();
    let ids = |l: &Listing<'_, Row>| l.items.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(&back), ids(&first));
    assert!(back.previous.is_none());
    // Same with an explicit from_prev on the plain cursor.
    let back2 = list(
        "rows",
        &params(&format!("pq={prev}&from_prev=true")),
        rows.iter(),
        &signer,
    )
    .unwrap();
    assert_eq!(ids(&back2), ids(&first));
    let third_cursor = second.next.unwrap();
    let third = list(
        "rows",
        &params(&format!("pq={third_cursor}")),
        rows.iter(),
        &signer,
    )
    .unwrap();
    assert_eq!(third.items.len(), 2);
    assert!(third.next.is_none());
}

#[test]
fn cursor_survives_inserts_and_rejects_garbage() {
    let signer = Signer::random();
    let mut rows = rows(6);
    let page = list(
        "rows",
        &params("limit=3&sort_by=name"),
        rows.iter(),
        &signer,
    )
    .unwrap();
    let shown: Vec<Uuid> = page.items.iter().map(|r| r.id).collect();
    let next = page.next.unwrap();
    rows.push(Row {
        id: Uuid::new_v4(),
        name: "a-first".into(),
        size: 0,
    });
    let rest = list("rows", &params(&format!("pq={next}")), rows.iter(), &signer).unwrap();
    assert_eq!(rest.items.len(), 3);
    assert!(rest.items.iter().all(|r| !shown.contains(&r.id)));

    for bad in ["garbage", "e30.00", "", "....", &format!("{next}x")] {
        let err = list("rows", &params(&format!("pq={bad}")), rows.iter(), &signer);
        if bad.is_empty() {
            assert!(err.is_ok(), "an empty pq is no cursor");
        } else {
            assert_eq!(err.err().unwrap().code, "INVALID_CURSOR", "{bad}");
        }
    }
    let other = list(
        "other",
        &params(&format!("pq={next}")),
        rows.iter(),
        &signer,
    );
    assert_eq!(other.err().unwrap().code, "INVALID_CURSOR");
    let other_sort = list(
        "rows",
        &params(&format!("pq={next}&sort_by=name:desc")),
        rows.iter(),
        &signer,
    );
    assert_eq!(other_sort.err().unwrap().code, "INVALID_CURSOR");
}

#[test]
fn limits_are_validated() {
    let signer = Signer::random();
    let rows = rows(3);
    for bad in ["limit=0", "limit=501", "limit=x", "limit=-1"] {
        let err = list("rows", &params(bad), rows.iter(), &signer)
            .err()
            .unwrap();
        assert_eq!(err.code, "VALIDATION_ERROR", "{bad}");
    }
    let all = list("rows", &params("limit=500"), rows.iter(), &signer).unwrap();
    assert_eq!(all.items.len(), 3);
    assert!(all.next.is_none() && all.previous.is_none());
}

#[test]
fn projection_keeps_listed_fields() {
    let value = serde_json::json!({"id": "a", "name": "b", "url": "c"});
    let projected = project(value.clone(), &["id".into(), "name".into()]).unwrap();
    assert_eq!(projected, serde_json::json!({"id": "a", "name": "b"}));
    assert!(project(value, &["nope".into()]).is_err());
}

#[test]
fn page_bodies_carry_the_cursor_fields_of_their_mode() {
    let page = || Page {
        items: vec![1, 2],
        first: Some("f".to_owned()),
        next: Some("n".to_owned()),
        previous: None,
        next_pq: Some("n".to_owned()),
        prev_pq: None,
    };
    let keys = |mode| {
        let Json(body) = page_body(page(), mode).unwrap();
        let mut keys: Vec<String> = body.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(
        keys(Pagination::Both),
        ["first", "items", "next", "next_pq", "prev_pq", "previous"]
    );
    assert_eq!(
        keys(Pagination::Next),
        ["first", "items", "next", "previous"]
    );
    assert_eq!(keys(Pagination::NextPq), ["items", "next_pq", "prev_pq"]);
    let Json(body) = page_body(page(), Pagination::NextPq).unwrap();
    assert_eq!(body["next_pq"], "n");
    assert_eq!(body["prev_pq"], Value::Null);
    assert_eq!(body["items"], serde_json::json!([1, 2]));
}
