//! Cursor pagination of the admin lists: ids are time-ordered (UUIDv7), newest first, and the
//! cursor is the last id of a page.

use uuid::Uuid;

use super::error::ApiError;

/// An optional id query parameter, in its hyphenated form (the document's `uuid` format); a
/// malformed or empty one is a 400 naming it.
pub fn uuid_param(field: &str, value: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    value
        .map(|v| {
            Uuid::parse_str(v)
                .ok()
                .filter(|_| v.len() == 36)
                .ok_or_else(|| ApiError::bad_request(format!("{field}: not a valid id")))
        })
        .transpose()
}

/// Cuts `items` (fetched with `limit + 1`) to one page and gives the cursor of the next one.
pub fn page<T>(
    mut items: Vec<T>,
    limit: usize,
    id: impl Fn(&T) -> Uuid,
) -> (Vec<T>, Option<String>) {
    if items.len() > limit {
        items.truncate(limit);
        let next = items.last().map(|last| id(last).to_string());
        (items, next)
    } else {
        (items, None)
    }
}
