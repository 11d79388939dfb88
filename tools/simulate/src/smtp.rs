//! An SMTP sink on the port of the email accounts' `smtp_url`: just enough
//! ESMTP for the daemon's sender (EHLO, AUTH, MAIL, RCPT, DATA, RSET,
//! QUIT, no STARTTLS, so a plain `smtp://` relay). Every message taken is
//! a reply received by each of its recipients.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use crate::error::SimError;
use crate::fakes::bind;
use crate::inbox::Inbox;
use crate::stats::Stats;
use crate::stop::{stopped, Stop};

/// Largest message the sink takes, in bytes (it answers 552 beyond).
const MAX_MESSAGE: usize = 4 << 20;

/// Starts the sink on each distinct port; they stop with `stop`.
pub async fn start(ports: &[u16], inbox: Arc<Inbox>, stats: Arc<Stats>, stop: Stop) -> Result<(), SimError> {
    let mut ports = ports.to_vec();
    ports.sort_unstable();
    ports.dedup();
    for port in ports {
        let listener = bind("SMTP relay", port).await?;
        let (inbox, stats, stop) = (inbox.clone(), stats.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stopped(stop.clone()) => return,
                    a = listener.accept() => a,
                };
                match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(session(stream, inbox.clone(), stats.clone()));
                    }
                    Err(_) => stats.error("smtp_accept"),
                }
            }
        });
    }
    Ok(())
}

/// The address inside `<…>` of a MAIL FROM / RCPT TO argument.
fn angle_address(arg: &str) -> String {
    let arg = arg.trim();
    let inner = arg.strip_prefix('<').and_then(|a| a.split_once('>')).map_or(arg, |(a, _)| a);
    inner.trim().to_lowercase()
}

/// Speaks SMTP on one connection until QUIT or the peer leaves.
async fn session(stream: TcpStream, inbox: Arc<Inbox>, stats: Arc<Stats>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if write.write_all(b"220 simulate.local ESMTP sink\r\n").await.is_err() {
        return;
    }
    let mut rcpt: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-simulate.local\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n"
        } else if upper.starts_with("HELO") {
            b"250 simulate.local\r\n"
        } else if upper.starts_with("AUTH LOGIN") {
            // Username and password prompts; any credentials pass.
            for _ in 0..2 {
                let _ = write.write_all(b"334 \r\n").await;
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
            }
            b"235 2.7.0 Authentication successful\r\n"
        } else if upper.starts_with("AUTH PLAIN") {
            if command.len() <= "AUTH PLAIN".len() + 1 {
                let _ = write.write_all(b"334 \r\n").await;
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
            }
            b"235 2.7.0 Authentication successful\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            rcpt.clear();
            b"250 2.1.0 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            rcpt.push(angle_address(&command["RCPT TO:".len()..]));
            b"250 2.1.5 OK\r\n"
        } else if upper == "DATA" {
            if rcpt.is_empty() {
                b"503 5.5.1 RCPT first\r\n"
            } else {
                let _ = write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await;
                let Some(size) = read_data(&mut lines).await else { return };
                if size > MAX_MESSAGE {
                    stats.error("smtp_message_too_large");
                    b"552 5.3.4 Message too big\r\n"
                } else {
                    for to in rcpt.drain(..) {
                        inbox.deliver("email", &to);
                    }
                    b"250 2.0.0 OK queued\r\n"
                }
            }
        } else if upper == "RSET" {
            rcpt.clear();
            b"250 2.0.0 OK\r\n"
        } else if upper == "NOOP" {
            b"250 2.0.0 OK\r\n"
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
            return;
        } else {
            b"502 5.5.2 Command not implemented\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// Reads a message up to its lone `.` line; its size, or `None` when the
/// peer left.
async fn read_data(lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<usize> {
    let mut size = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        if line == ".\r\n" || line == ".\n" {
            return Some(size);
        }
        size = size.saturating_add(line.len());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_come_out_of_their_angle_brackets() {
        assert_eq!(super::angle_address("<Li.Lei@Example.com> SIZE=100"), "li.lei@example.com");
        assert_eq!(super::angle_address(" bob@example.com"), "bob@example.com");
    }
}
