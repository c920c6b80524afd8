//! The files sslsock reads for itself (client certificates and keys, trust anchors, CRLs), read
//! whole and with a bound.
//!
//! Their paths come from the program or its environment, so nothing about them is trusted: read as a
//! stream, `/dev/zero` or a huge sparse file would fill memory, and opening a FIFO that has no writer
//! would block forever. Each file is therefore opened with `O_NONBLOCK` (a FIFO's open returns at
//! once), must be a regular file (asked of the opened descriptor, so a rename in between changes
//! nothing) and no larger than a limit, both before a byte is read; the read itself stops one byte
//! past the limit, for a file that grows meanwhile.

use std::fs::{File, FileType};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

use crate::error::{Error, Result, WsaCode};

/// The most a certificate chain, private key or trust-anchor bundle file may hold: 4 MiB. A PEM
/// certificate is 1 to 3 KiB, and a system bundle of about 150 anchors is 200 to 250 KiB.
pub(crate) const MAX_CREDENTIAL_BYTES: u64 = 4 << 20;

/// The most a certificate revocation list file may hold: 16 MiB. A CRL grows with the certificates it
/// revokes (about 40 bytes each): the largest public CAs' lists are a few MiB.
pub(crate) const MAX_CRL_BYTES: u64 = 16 << 20;

fn describe(kind: FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "of an unknown type"
    }
}

/// The whole of the regular file at `path`, at most `limit` bytes. Fails with WSAEINVAL and a reason
/// that starts with `what` and the path: cannot be opened, "is not a regular file (a FIFO)", "is
/// larger than N bytes". Never blocks (but on a slow file system) and never allocates more than
/// `limit + 1` bytes.
pub(crate) fn read_bounded(path: &str, what: &str, limit: u64) -> Result<Vec<u8>> {
    let fail = |why: String| Error::new(WsaCode::EINVAL, format!("{what} '{path}': {why}"));
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| fail(format!("cannot open it: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| fail(format!("cannot stat it: {e}")))?;
    if !meta.file_type().is_file() {
        return Err(fail(format!(
            "is not a regular file ({})",
            describe(meta.file_type())
        )));
    }
    if meta.len() > limit {
        return Err(fail(format!(
            "is larger than {limit} bytes ({} bytes)",
            meta.len()
        )));
    }
    // meta.len() <= limit, a few MiB: it fits in usize.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&mut file)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(fail(format!(
            "is larger than {limit} bytes (it grew while read)"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sslsock-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_small_regular_file_is_read_whole() {
        let dir = scratch("small");
        let path = dir.join("a.pem");
        std::fs::write(&path, b"0123456789").unwrap();
        let path = path.to_str().unwrap();
        assert_eq!(read_bounded(path, "test", 10).unwrap(), b"0123456789");
        let e = read_bounded(path, "test", 9).unwrap_err();
        assert_eq!(e.code(), WsaCode::EINVAL);
        assert!(
            e.reason().contains("is larger than 9 bytes"),
            "{}",
            e.reason()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_at_once() {
        let dir = scratch("kinds");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo {}", fifo.display());
        for (path, kind) in [
            ("/dev/zero", "(a character device)"),
            (dir.to_str().unwrap(), "(a directory)"),
            (fifo.to_str().unwrap(), "(a FIFO)"),
        ] {
            let e = read_bounded(path, "test", MAX_CREDENTIAL_BYTES).unwrap_err();
            assert!(
                e.reason().contains("is not a regular file") && e.reason().contains(kind),
                "{path}: {}",
                e.reason()
            );
        }
        let e = read_bounded("/nonexistent/x.pem", "client key", 10).unwrap_err();
        assert!(
            e.reason()
                .starts_with("client key '/nonexistent/x.pem': cannot open it"),
            "{}",
            e.reason()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_huge_sparse_file_is_refused_without_reading() {
        let dir = scratch("sparse");
        let path = dir.join("huge.pem");
        let file = File::create(&path).unwrap();
        file.set_len(64 << 30).unwrap();
        let e = read_bounded(path.to_str().unwrap(), "test", MAX_CRL_BYTES).unwrap_err();
        assert!(
            e.reason().contains("is larger than 16777216 bytes"),
            "{}",
            e.reason()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
