//! What a read of the record layer gave.

use crate::error::Error;

/// What one non-blocking read of the record layer gave.
#[derive(Debug)]
pub enum Got {
    /// Bytes were put in the caller's buffer.
    Data(usize),
    /// The end of the data: the server's close_notify (`true`), or a TCP close the socket accepts
    /// as an end (`false`).
    End(bool),
    /// No data now; `true` when records came that made none (session tickets, key updates).
    Nothing(bool),
}

/// A read that ended in a failure, perhaps after giving data first.
pub struct Failed {
    /// Bytes put in the caller's buffer before the failure (data before a fatal record).
    pub data: usize,
    /// What failed: the socket fails with it.
    pub error: Error,
}
