//! A loopback port where every connection is refused, held for as long as the test runs.
//!
//! Binding a listener, reading its port and dropping it leaves the port free for any other test
//! in the same binary (an emulator on port 0, say) to take, and the "refused" request then meets
//! that server instead. A socket that is bound but never listens keeps the port while the kernel
//! answers every connection to it with a reset.

use tokio::net::TcpSocket;

pub struct RefusedPort {
    _socket: TcpSocket,
    pub port: u16,
}

impl RefusedPort {
    pub fn new() -> Self {
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind(([127, 0, 0, 1], 0).into())
            .expect("a free loopback port");
        let port = socket.local_addr().expect("a bound address").port();
        Self {
            _socket: socket,
            port,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
