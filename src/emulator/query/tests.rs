use super::*;

struct Item {
    id: Uuid,
    name: &'static str,
    folder: Option<Uuid>,
    size: i64,
    created: OffsetDateTime,
}

impl Record for Item {
    const FIELDS: &'static [(&'static str, FieldKind, bool)] = &[
        ("name", FieldKind::Text, true),
        ("folder_id", FieldKind::Id, false),
        ("size_bytes", FieldKind::Int, true),
        ("created_at", FieldKind::Time, true),
    ];
    fn id(&self) -> Uuid {
        self.id
    }
    fn field(&self, name: &str) -> FieldValue {
        match name {
            "name" => FieldValue::Text(self.name.into()),
            "folder_id" => FieldValue::id(self.folder),
            "size_bytes" => FieldValue::Int(self.size),
            "created_at" => FieldValue::time(self.created),
            _ => FieldValue::Null,
        }
    }
}

fn item(name: &'static str, folder: Option<Uuid>, size: i64) -> Item {
    Item {
        id: Uuid::new_v4(),
        name,
        folder,
        size,
        created: time::macros::datetime!(2026-04-02 10:00 UTC),
    }
}

fn hits(q: &str, items: &[Item]) -> Vec<&'static str> {
    let filter = compile::<Item>(Some(q)).unwrap();
    items
        .iter()
        .filter(|i| filter.matches(*i))
        .map(|i| i.name)
        .collect()
}

#[test]
fn parses_precedence_quotes_and_null() {
    let expr = parse(r#"a:1 OR b="x \"y\"" AND NOT c:null"#).unwrap();
    let cmp = |field: &str, value: Option<&str>| Expr::Cmp {
        field: field.into(),
        op: Op::Eq,
        value: value.map(Into::into),
    };
    assert_eq!(
        expr,
        Expr::Or(
            Box::new(cmp("a", Some("1"))),
            Box::new(Expr::And(
                Box::new(cmp("b", Some("x \"y\""))),
                Box::new(Expr::Not(Box::new(cmp("c", None))))
            ))
        )
    );
    assert_eq!(parse("x>=3").unwrap(), parse("(x>=3)").unwrap());
    assert!(matches!(
        parse("d>2026-04-01T00:00:00Z").unwrap(),
        Expr::Cmp { op: Op::Gt, .. }
    ));
}

#[test]
fn parses_the_suffixed_form() {
    let cmp = |field: &str, op: Op, value: Option<&str>| Expr::Cmp {
        field: field.into(),
        op,
        value: value.map(Into::into),
    };
    assert_eq!(
        parse("slug.eq:'my-flow'").unwrap(),
        cmp("slug", Op::Eq, Some("my-flow"))
    );
    assert_eq!(
        parse("client_ref.EQ:'token'").unwrap(),
        cmp("client_ref", Op::Eq, Some("token"))
    );
    assert_eq!(
        parse(r#"name.Ne:"a b""#).unwrap(),
        cmp("name", Op::Ne, Some("a b"))
    );
    assert_eq!(
        parse(r"name.eq:'it\'s'").unwrap(),
        cmp("name", Op::Eq, Some("it's"))
    );
    assert_eq!(parse("a.gt:1").unwrap(), cmp("a", Op::Gt, Some("1")));
    assert_eq!(parse("a.GTE:1").unwrap(), cmp("a", Op::Ge, Some("1")));
    assert_eq!(parse("a.lt:1").unwrap(), cmp("a", Op::Lt, Some("1")));
    assert_eq!(parse("a.lte:1").unwrap(), cmp("a", Op::Le, Some("1")));
    assert_eq!(parse("a.ne:null").unwrap(), cmp("a", Op::Ne, None));
    assert_eq!(
        parse("a.eq:'null'").unwrap(),
        cmp("a", Op::Eq, Some("null"))
    );
    assert_eq!(
        parse("a.eq:'x' AND (b>2 OR NOT c.lte:3)").unwrap(),
        Expr::And(
            Box::new(cmp("a", Op::Eq, Some("x"))),
            Box::new(Expr::Or(
                Box::new(cmp("b", Op::Gt, Some("2"))),
                Box::new(Expr::Not(Box::new(cmp("c", Op::Le, Some("3")))))
            ))
        )
    );
}

#[test]
fn suffixed_form_errors_name_the_problem() {
    let err = |q: &str| parse(q).unwrap_err();
    assert!(err("name.like:'x'").contains("unknown operator `.like`"));
    assert!(err("name.eq='x'").contains("expected `:` after `name.eq`"));
    assert!(err("name.eq>'x'").contains("expected `:`"));
    assert!(err(".eq:'x'").contains("field name"));
    assert!(err("a.b.eq:'x'").contains("field name"));
    assert!(err("name.eq:'open").contains("unterminated string"));
    assert!(err("name.eq:").contains("expected a value"));
}

#[test]
fn rejects_garbage() {
    for bad in [
        "name", "name:", ":x", "(a:1", "a:1)", "a:\"open", "a ~ b", "AND a:1",
    ] {
        assert!(parse(bad).is_err(), "{bad} should not parse");
    }
    assert!(compile::<Item>(Some("nope:1")).is_err());
    assert!(compile::<Item>(Some("size_bytes:big")).is_err());
    assert!(compile::<Item>(Some("folder_id>x")).is_err());
    assert!(compile::<Item>(Some("folder_id:not-a-uuid")).is_err());
    assert!(compile::<Item>(Some("created_at>yesterday")).is_err());
}

#[test]
fn evaluates_filters() {
    let folder = Uuid::new_v4();
    let items = [
        item("a.png", None, 10),
        item("b.png", Some(folder), 20),
        item("A.png", Some(folder), 30),
    ];
    assert_eq!(hits("folder_id:null", &items), ["a.png"]);
    assert_eq!(
        hits(&format!("folder_id={folder}"), &items),
        ["b.png", "A.png"]
    );
    assert_eq!(hits("name:a.png", &items), ["a.png"]);
    assert_eq!(hits("size_bytes>=20 size_bytes<30", &items), ["b.png"]);
    assert_eq!(
        hits("name:a.png OR size_bytes>25", &items),
        ["a.png", "A.png"]
    );
    assert_eq!(
        hits("NOT folder_id:null AND NOT name:\"b.png\"", &items),
        ["A.png"]
    );
    assert_eq!(hits("created_at>2026-04-01", &items).len(), 3);
    assert_eq!(hits("created_at<2026-04-02T09:00:00Z", &items).len(), 0);
    assert_eq!(hits("name>=b", &items), ["b.png"]);
    assert_eq!(hits("name.eq:'a.png'", &items), ["a.png"]);
    assert_eq!(hits("name.EQ:\"a.png\"", &items), ["a.png"]);
    assert_eq!(hits("name.ne:'a.png'", &items), ["b.png", "A.png"]);
    assert_eq!(hits("folder_id.ne:null", &items), ["b.png", "A.png"]);
    assert_eq!(
        hits(&format!("folder_id.eq:'{folder}'"), &items),
        ["b.png", "A.png"]
    );
    assert_eq!(
        hits("size_bytes.gt:10 size_bytes.lte:30", &items),
        ["b.png", "A.png"]
    );
    assert_eq!(
        hits("size_bytes.gte:30 OR size_bytes.lt:11", &items),
        ["a.png", "A.png"]
    );
    assert!(compile::<Item>(Some("folder_id.gt:null")).is_err());
    assert!(
        compile::<Item>(Some("nope.eq:1"))
            .unwrap_err()
            .contains("unknown field `nope`")
    );
}
