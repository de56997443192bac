//! The reference matcher: every route tried in precedence order, the first match taken. It is
//! the SPEC's rule read literally and slow (a scan); [`super::RouteTable`]'s index must pick
//! exactly what it picks, which `tests/routes.rs` and the `route` fuzz target check.

use std::sync::Arc;

use super::{RouteKey, Selected};

/// Routes in precedence order, plus `$default`.
#[derive(Debug)]
pub struct Linear<T> {
    routes: Vec<(RouteKey, Arc<str>, T)>,
    default: Option<(Arc<str>, T)>,
}

impl<T> Linear<T> {
    /// Takes what [`super::RouteTable::new`] takes.
    pub fn new(mut routes: Vec<(RouteKey, Arc<str>, T)>, default: Option<T>) -> Self {
        super::sort(&mut routes);
        Linear {
            routes,
            default: default.map(|v| (Arc::from("$default"), v)),
        }
    }

    /// What [`super::RouteTable::select`] must answer.
    pub fn select(&self, method: &str, path: &str) -> Option<Selected<'_, T>> {
        self.routes
            .iter()
            .find(|(k, _, _)| k.matches(method, path))
            .map(|(_, key, value)| Selected { key, value })
            .or_else(|| {
                self.default
                    .as_ref()
                    .map(|(key, value)| Selected { key, value })
            })
    }
}
