//! Where the incoming ciphertext stands relative to TLS record boundaries.
//!
//! A TCP close without close_notify is treated differently at a record boundary (a server that just
//! closed) and inside a record (a truncated stream), and rustls does not expose its deframer, so the
//! bytes handed to rustls are followed here: 5-byte header, then the length it announces.

/// Tracks record boundaries in a stream of TLS records.
#[derive(Debug, Default)]
pub struct RecordTracker {
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
}

impl RecordTracker {
    /// Account for bytes that were handed to TLS, in order.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let take = self.body_left.min(bytes.len());
                self.body_left -= take;
                bytes = &bytes[take..];
                continue;
            }
            let take = (5 - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
            self.header_len += take;
            bytes = &bytes[take..];
            if self.header_len == 5 {
                self.body_left = u16::from_be_bytes([self.header[3], self.header[4]]) as usize;
                self.header_len = 0;
            }
        }
    }

    /// Whether the stream so far ends exactly at the end of a record.
    pub fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.body_left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_across_split_feeds() {
        let mut t = RecordTracker::default();
        assert!(t.at_boundary());
        let record = [23u8, 3, 3, 0, 4, 1, 2, 3, 4];
        t.feed(&record[..2]);
        assert!(!t.at_boundary());
        t.feed(&record[2..7]);
        assert!(!t.at_boundary());
        t.feed(&record[7..]);
        assert!(t.at_boundary());
        let two: Vec<u8> = record.iter().chain(record.iter()).copied().collect();
        t.feed(&two);
        assert!(t.at_boundary());
        t.feed(&[23, 3, 3, 0, 0]);
        assert!(t.at_boundary(), "an empty record ends at its header");
    }
}
