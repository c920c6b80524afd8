//! Full-duplex stress of one secure socket through sslsock's C API, for ThreadSanitizer runs
//! (`make tsan`): one thread sends a seeded stream while another receives the echo and checks every
//! byte, against the line server's STREAM mode (tests/servers/starttls_server.py).
//!
//! Usage: duplex_stress HOST PORT MEBIBYTES  (SSL_CERT_FILE names the test CA)

use std::ffi::c_void;
use std::net::Ipv4Addr;
use std::sync::Arc;

use sslsock::abi::{SO_SECURE, SO_SEC_SSL};
use sslsock::ffi::{io, lifecycle, options};

fn byte(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (host, port, mib): (Ipv4Addr, u16, usize) = (
        args[1].parse().expect("host"),
        args[2].parse().expect("port"),
        args[3].parse().expect("MiB"),
    );
    let total = mib << 20;
    let s = lifecycle::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
    let on = SO_SEC_SSL;
    // SAFETY: a valid DWORD of the stated size.
    let rc = unsafe {
        options::setsockopt(
            s,
            libc::SOL_SOCKET,
            SO_SECURE as i32,
            (&on as *const u32).cast(),
            4,
        )
    };
    assert_eq!(rc, 0, "SO_SECURE");
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(host).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a valid sockaddr_in of the stated size.
    let rc = unsafe { lifecycle::connect(s, (&addr as *const libc::sockaddr_in).cast(), 16) };
    assert_eq!(rc, 0, "connect (immediate handshake)");
    let command = b"STREAM\r\n";
    // SAFETY: valid buffers of the stated sizes on a connected secure socket.
    unsafe {
        assert_eq!(
            io::send(s, command.as_ptr().cast(), command.len(), 0),
            command.len() as isize
        );
        let mut line = Vec::new();
        let mut b = 0u8;
        while !line.ends_with(b"\r\n") {
            assert_eq!(
                io::recv(s, (&mut b as *mut u8).cast::<c_void>(), 1, 0),
                1,
                "STREAM OK line"
            );
            line.push(b);
        }
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let receiver = std::thread::spawn(move || {
        let mut buf = vec![0u8; 50_000];
        let mut got = 0;
        while got < total {
            let want = buf.len().min(total - got).min(1 + got % 40_000);
            // SAFETY: `buf` is valid for `want` bytes.
            let n = unsafe { io::recv(s, buf.as_mut_ptr().cast(), want, 0) };
            assert!(n > 0, "recv failed at {got}");
            for (k, &v) in buf[..n as usize].iter().enumerate() {
                assert_eq!(v, byte(got + k), "byte {} differs", got + k);
            }
            got += n as usize;
        }
        got
    });
    let mut sent = 0;
    let mut chunk = vec![0u8; 70_000];
    while sent < total {
        let len = (1 + sent % 65_536).min(total - sent);
        for (k, v) in chunk[..len].iter_mut().enumerate() {
            *v = byte(sent + k);
        }
        // SAFETY: `chunk` is valid for `len` bytes.
        let n = unsafe { io::send(s, chunk.as_ptr().cast(), len, 0) };
        assert_eq!(n, len as isize, "send returns its length");
        sent += len;
    }
    let got = receiver.join().expect("receiver");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(lifecycle::closesocket(s), 0);
    println!("ok - {mib} MiB sent and {got} bytes echoed intact, one thread each way");
}
