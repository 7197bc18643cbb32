//! Reading what ended up on the emulator.

use runflow_uploader::api::{ListQuery, RunflowClient};

/// Every asset's name, across pages.
pub async fn all_asset_names(client: &RunflowClient) -> Vec<String> {
    let mut query = ListQuery {
        limit: Some(500),
        ..ListQuery::default()
    };
    let mut names = Vec::new();
    loop {
        let page = client.list_assets(&query).await.unwrap();
        names.extend(page.items.iter().filter_map(|a| a.name.clone()));
        match page.next_cursor() {
            Some(cursor) => query = query.at_cursor(cursor),
            None => return names,
        }
    }
}
