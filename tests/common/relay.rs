//! A loopback relay that trickles: the replies of a live server, one byte
//! every 30 ms.

use std::time::Duration;

/// A loopback relay to `port` that passes requests at once and replies one
/// byte every 30 ms: a link that is alive and never quite silent.
pub fn trickling(port: u16) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_in, &mut s_out);
            });
            let (mut s_in, mut c_out) = (server, client);
            std::thread::spawn(move || {
                let mut byte = [0u8; 1];
                while s_in.read_exact(&mut byte).is_ok() {
                    std::thread::sleep(Duration::from_millis(30));
                    if c_out.write_all(&byte).is_err() {
                        break;
                    }
                }
            });
        }
    });
    relay
}
