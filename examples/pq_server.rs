//! A TLS 1.3 test server for the post-quantum check of `make certmatrix` (tests/certmatrix/pq.c).
//!
//! rustls with the aws-lc-rs provider and `prefer-post-quantum`, i.e. the key-exchange groups
//! X25519MLKEM768, X25519, P-256, P-384 in that order of preference; it prints the group each
//! connection negotiated, which OpenSSL 3.0's `s_server` cannot (it has no ML-KEM).
//!
//! ```sh
//! cargo build --release --example pq_server
//! target/release/examples/pq_server --cert good.pem --key good.key [--port 0] [--port-file FILE]
//! ```
//!
//! Listens on 127.0.0.1 only (`--port 0`: the kernel picks) and prints `PORT <n>` once it listens
//! (and writes `<n>` to `--port-file`). Per connection, one line on stdout:
//! `GROUP <peer> <group> <protocol> <cipher suite>` after the handshake, or `FAIL <peer> <error>`.
//! Over TLS it first sends the line `GROUP <group>` (CRLF), then echoes every line it receives, until
//! the client sends close_notify (answered with its own) or closes.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

struct Args {
    cert: String,
    key: String,
    port: u16,
    port_file: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut cert = None;
    let mut key = None;
    let mut port = 0u16;
    let mut port_file = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--cert" => cert = Some(value()?),
            "--key" => key = Some(value()?),
            "--port" => port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--port-file" => port_file = Some(value()?),
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    Ok(Args {
        cert: cert.ok_or("--cert is required")?,
        key: key.ok_or("--key is required")?,
        port,
        port_file,
    })
}

fn config(args: &Args) -> Result<Arc<ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(&args.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e:?}", args.cert))?;
    let key =
        PrivateKeyDer::from_pem_file(&args.key).map_err(|e| format!("{}: {e:?}", args.key))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

fn serve(config: Arc<ServerConfig>, tcp: TcpStream) {
    let peer = tcp
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
    let conn = match ServerConnection::new(config) {
        Ok(c) => c,
        Err(e) => {
            println!("FAIL {peer} {e}");
            return;
        }
    };
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            println!("FAIL {peer} {e}");
            return;
        }
    }
    let group = tls
        .conn
        .negotiated_key_exchange_group()
        .map(|g| format!("{:?}", g.name()))
        .unwrap_or_else(|| "none".into());
    let version = tls
        .conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_else(|| "?".into());
    let suite = tls
        .conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_else(|| "?".into());
    println!("GROUP {peer} {group} {version} {suite}");
    if tls
        .write_all(format!("GROUP {group}\r\n").as_bytes())
        .is_err()
        || tls.flush().is_err()
    {
        return;
    }
    let mut reader = BufReader::new(tls);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let tls = reader.get_mut();
                if tls.write_all(line.as_bytes()).is_err() || tls.flush().is_err() {
                    break;
                }
            }
        }
    }
    let tls = reader.get_mut();
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pq_server: {e}");
            std::process::exit(2);
        }
    };
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pq_server: {e}");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", args.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("pq_server: bind 127.0.0.1:{}: {e}", args.port);
            std::process::exit(2);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    if let Some(file) = &args.port_file {
        if let Err(e) = std::fs::write(file, format!("{port}\n")) {
            eprintln!("pq_server: {file}: {e}");
            std::process::exit(2);
        }
    }
    println!("PORT {port}");
    for tcp in listener.incoming().flatten() {
        let config = config.clone();
        thread::spawn(move || serve(config, tcp));
    }
}
