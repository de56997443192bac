//! The record of a decision's steps. The core reports each check it makes to a [`Trace`]; the
//! server passes [`NoTrace`], whose detail closures are never called, so explaining a decision
//! (`tokengate verify`) costs the request path nothing.

/// Receives each check the core makes, with a detail built only if wanted.
pub trait Trace {
    /// Records one check: its name, whether it passed, and a detail made on demand.
    fn record(&mut self, check: &'static str, passed: bool, detail: impl FnOnce() -> String);
}

/// The server's trace: records nothing.
pub struct NoTrace;

impl Trace for NoTrace {
    #[inline(always)]
    fn record(&mut self, _: &'static str, _: bool, _: impl FnOnce() -> String) {}
}

/// One check as explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The check's name (`route`, `signature`, `scopes`…).
    pub check: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// What was compared, in words a user writes.
    pub detail: String,
}

/// Collects every step.
#[derive(Debug, Default)]
pub struct Steps(pub Vec<Step>);

impl Trace for Steps {
    fn record(&mut self, check: &'static str, passed: bool, detail: impl FnOnce() -> String) {
        self.0.push(Step {
            check,
            passed,
            detail: detail(),
        });
    }
}
