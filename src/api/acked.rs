//! How many bytes of an upload the server has acknowledged, so progress counts what reached it
//! and not what was handed to the socket. On a slow link the kernel's send buffer (and the
//! server's receive buffer) take megabytes at once, and a bar fed by writes sits at 100 %
//! for seconds.
//!
//! - [`RecordConnection`] is a connector layer: it notes the local and remote address of every
//!   connection its client opens. A PUT that wants acknowledged bytes borrows a client that
//!   keeps at most one idle connection and carries one request at a time, so the connection
//!   it notes is the one that carries the body (storage on one host, as presigned URLs are).
//!   The count starts from what that connection had acknowledged before the PUT. Were the
//!   noted connection ever the wrong one, the count would stand still, never run ahead.
//! - [`bytes_acked`] asks the kernel for that connection's `tcpi_bytes_acked`, through
//!   `sock_diag` netlink (what `ss -ti` reads) on Linux. Elsewhere, or when the kernel does
//!   not answer, it is `None`, and progress counts bytes handed to the socket.
//!
//! Through a proxy the connection ends at the proxy, so this counts what the proxy took.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::{Connection, HttpInfo};

/// The addresses of the last connection a client opened.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectionSlot(Arc<Mutex<Option<Endpoints>>>);

/// One TCP connection, seen from this end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Endpoints {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl ConnectionSlot {
    /// The connection recorded last, if one was opened.
    pub fn get(&self) -> Option<Endpoints> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, endpoints: Endpoints) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(endpoints);
    }
}

/// A connector layer that records each connection's addresses in a [`ConnectionSlot`].
#[derive(Debug, Clone)]
pub(crate) struct RecordConnection(pub ConnectionSlot);

impl<S> tower::Layer<S> for RecordConnection {
    type Service = Recording<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Recording {
            inner,
            slot: self.0.clone(),
        }
    }
}

/// The connector service of [`RecordConnection`].
#[derive(Debug, Clone)]
pub(crate) struct Recording<S> {
    inner: S,
    slot: ConnectionSlot,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R> tower::Service<R> for Recording<S>
where
    S: tower::Service<R> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Connection,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let connecting = self.inner.call(request);
        let slot = self.slot.clone();
        Box::pin(async move {
            let conn = connecting.await?;
            let mut extras = http::Extensions::new();
            conn.connected().get_extras(&mut extras);
            if let Some(info) = extras.get::<HttpInfo>() {
                slot.set(Endpoints {
                    local: info.local_addr(),
                    remote: info.remote_addr(),
                });
            }
            Ok(conn)
        })
    }
}

/// Bytes of the connection `endpoints` the peer has acknowledged (handshakes, headers and
/// TLS framing included), or `None` when the system cannot tell.
pub(crate) fn bytes_acked(endpoints: Endpoints) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        linux::bytes_acked(endpoints)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = endpoints;
        None
    }
}

#[cfg(target_os = "linux")]
mod linux {
    //! One `SOCK_DIAG_BY_FAMILY` request for one socket, by its exact addresses, asking for
    //! `INET_DIAG_INFO` (a `struct tcp_info`). Layouts from `linux/inet_diag.h` and
    //! `linux/tcp.h`; no privilege is needed for a socket of one's own.

    use std::net::IpAddr;

    use rustix::net::netlink::{self, SocketAddrNetlink};
    use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

    use super::Endpoints;

    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLM_F_REQUEST: u16 = 1;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_HEADER: usize = 16;
    /// `struct inet_diag_msg`.
    const DIAG_MSG: usize = 72;
    const INET_DIAG_INFO: u16 = 2;
    /// `tcpi_bytes_acked` in `struct tcp_info` (Linux 4.1 and later).
    const BYTES_ACKED_OFFSET: usize = 120;
    const IPPROTO_TCP: u8 = 6;
    const AF_INET: u8 = 2;
    const AF_INET6: u8 = 10;

    pub(super) fn bytes_acked(endpoints: Endpoints) -> Option<u64> {
        let request = request(endpoints)?;
        let socket = rustix::net::socket(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            Some(netlink::SOCK_DIAG),
        )
        .ok()?;
        let kernel = SocketAddrNetlink::new(0, 0);
        rustix::net::sendto(&socket, &request, SendFlags::empty(), &kernel).ok()?;
        let mut answer = [0_u8; 8192];
        let (len, _) = rustix::net::recv(&socket, &mut answer[..], RecvFlags::empty()).ok()?;
        parse(answer.get(..len)?)
    }

    /// The request for the socket with these exact addresses.
    pub(super) fn request(endpoints: Endpoints) -> Option<Vec<u8>> {
        let Endpoints { local, remote } = endpoints;
        let (family, src, dst) = match (local.ip(), remote.ip()) {
            (IpAddr::V4(l), IpAddr::V4(r)) => (AF_INET, pad(&l.octets()), pad(&r.octets())),
            (IpAddr::V6(l), IpAddr::V6(r)) => (AF_INET6, l.octets(), r.octets()),
            _ => return None,
        };
        let mut body = vec![family, IPPROTO_TCP, 1 << (INET_DIAG_INFO - 1), 0];
        body.extend_from_slice(&u32::MAX.to_ne_bytes()); // every TCP state
        body.extend_from_slice(&local.port().to_be_bytes());
        body.extend_from_slice(&remote.port().to_be_bytes());
        body.extend_from_slice(&src);
        body.extend_from_slice(&dst);
        body.extend_from_slice(&0_u32.to_ne_bytes()); // any interface
        body.extend_from_slice(&[0xff; 8]); // INET_DIAG_NOCOOKIE
        let mut message = Vec::with_capacity(NLMSG_HEADER + body.len());
        message.extend_from_slice(&((NLMSG_HEADER + body.len()) as u32).to_ne_bytes());
        message.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        message.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        message.extend_from_slice(&1_u32.to_ne_bytes()); // sequence
        message.extend_from_slice(&0_u32.to_ne_bytes()); // port id: the kernel fills it
        message.extend_from_slice(&body);
        Some(message)
    }

    fn pad(v4: &[u8; 4]) -> [u8; 16] {
        let mut out = [0; 16];
        out[..4].copy_from_slice(v4);
        out
    }

    /// `tcpi_bytes_acked` from the kernel's answer, if it is one.
    pub(super) fn parse(answer: &[u8]) -> Option<u64> {
        let kind = u16::from_ne_bytes(answer.get(4..6)?.try_into().ok()?);
        if kind == NLMSG_ERROR || kind != SOCK_DIAG_BY_FAMILY {
            return None;
        }
        let total =
            (u32::from_ne_bytes(answer.get(0..4)?.try_into().ok()?) as usize).min(answer.len());
        let mut at = NLMSG_HEADER + DIAG_MSG;
        while at + 4 <= total {
            let len = u16::from_ne_bytes(answer.get(at..at + 2)?.try_into().ok()?) as usize;
            let kind = u16::from_ne_bytes(answer.get(at + 2..at + 4)?.try_into().ok()?);
            if len < 4 {
                return None;
            }
            if kind == INET_DIAG_INFO {
                let info = answer.get(at + 4..at + len)?;
                let acked = info.get(BYTES_ACKED_OFFSET..BYTES_ACKED_OFFSET + 8)?;
                return Some(u64::from_ne_bytes(acked.try_into().ok()?));
            }
            at += len.next_multiple_of(4);
        }
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn the_kernel_reports_what_the_peer_acknowledged() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let endpoints = Endpoints {
            local: client.local_addr().unwrap(),
            remote: client.peer_addr().unwrap(),
        };
        let before = bytes_acked(endpoints).expect("sock_diag answers for our own socket");
        let payload = vec![7_u8; 300_000];
        client.write_all(&payload).unwrap();
        let mut got = vec![0_u8; payload.len()];
        server.read_exact(&mut got).unwrap();
        // The last ACK may trail the read by a moment.
        let mut acked = 0;
        for _ in 0..100 {
            acked = bytes_acked(endpoints).unwrap() - before;
            if acked == payload.len() as u64 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(acked, payload.len() as u64);
    }

    #[test]
    fn an_unknown_connection_has_no_count() {
        let endpoints = Endpoints {
            local: "127.0.0.1:9".parse().unwrap(),
            remote: "127.0.0.1:10".parse().unwrap(),
        };
        assert_eq!(bytes_acked(endpoints), None);
    }
}
