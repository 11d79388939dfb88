//! A fake SMTP server for the sender tests: tokio on 127.0.0.1:0, speaking
//! just enough ESMTP (greeting, EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET,
//! QUIT), answering RCPT from a script and recording every session, so
//! that tests can check exactly what went over the wire and how often.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One SMTP session as the fake server saw it.
#[derive(Clone, Debug, Default)]
pub(super) struct Session {
    pub(super) ehlo: String,
    /// The decoded AUTH PLAIN response (`\0user\0password`).
    pub(super) auth: Option<String>,
    pub(super) mail_from: String,
    pub(super) rcpt_to: Vec<String>,
    /// The message as received, dot-unstuffed, CRLF line ends.
    pub(super) data: Option<String>,
    pub(super) quit: bool,
}

/// The running fake and what it recorded.
pub(super) struct FakeSmtp {
    pub(super) addr: SocketAddr,
    sessions: Arc<Mutex<Vec<Session>>>,
}

impl FakeSmtp {
    /// Every session so far, in the order they started.
    pub(super) fn sessions(&self) -> Vec<Session> {
        self.sessions.lock().unwrap().clone()
    }
}

/// Starts the fake. Session `n` answers RCPT with `rcpt[n]` (the last entry
/// for later sessions; `250 2.1.5 OK` when empty).
pub(super) async fn start(rcpt: Vec<&'static str>) -> FakeSmtp {
    start_with(rcpt, false).await
}

/// Like [`start`], but a session that gets `QUIT` never answers it (a
/// relay stopped right after accepting the message).
pub(super) async fn start_stalling_quit() -> FakeSmtp {
    start_with(vec![], true).await
}

async fn start_with(rcpt: Vec<&'static str>, quit_stalls: bool) -> FakeSmtp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sessions = Arc::new(Mutex::new(Vec::new()));
    let recorded = sessions.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((stream, _)) = listener.accept().await {
            let answer = rcpt
                .get(n)
                .or(rcpt.last())
                .copied()
                .unwrap_or("250 2.1.5 OK");
            let index = {
                let mut all = recorded.lock().unwrap();
                all.push(Session::default());
                all.len() - 1
            };
            tokio::spawn(serve(stream, answer, recorded.clone(), index, quit_stalls));
            n += 1;
        }
    });
    FakeSmtp { addr, sessions }
}

/// Speaks SMTP on one connection.
async fn serve(
    stream: TcpStream,
    rcpt_answer: &'static str,
    sessions: Arc<Mutex<Vec<Session>>>,
    index: usize,
    quit_stalls: bool,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let record = |f: &dyn Fn(&mut Session)| f(&mut sessions.lock().unwrap()[index]);
    let _ = write.write_all(b"220 fake.example ESMTP\r\n").await;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            record(&|s| s.ehlo = command[4..].trim().to_owned());
            "250-fake.example\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8\r\n".into()
        } else if upper.starts_with("AUTH PLAIN") {
            let mut response = command[10..].trim().to_owned();
            if response.is_empty() {
                let _ = write.write_all(b"334 \r\n").await;
                let mut next = String::new();
                let _ = lines.read_line(&mut next).await;
                response = next.trim().to_owned();
            }
            let decoded = String::from_utf8(STANDARD.decode(response).unwrap_or_default())
                .unwrap_or_default();
            record(&|s| s.auth = Some(decoded.clone()));
            "235 2.7.0 Authentication successful\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            let from = command[10..]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            record(&|s| s.mail_from = from.clone());
            "250 2.1.0 OK\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            let to = command[8..].trim().to_owned();
            record(&|s| s.rcpt_to.push(to.clone()));
            format!("{rcpt_answer}\r\n")
        } else if upper == "DATA" {
            let _ = write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(
                    l.strip_prefix('.')
                        .filter(|_| l.starts_with(".."))
                        .unwrap_or(&l),
                );
            }
            record(&|s| s.data = Some(data.clone()));
            "250 2.0.0 Ok: queued as FAKE1\r\n".into()
        } else if upper == "RSET" || upper == "NOOP" {
            "250 2.0.0 OK\r\n".into()
        } else if upper == "QUIT" {
            record(&|s| s.quit = true);
            if quit_stalls {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            }
            let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
            return;
        } else {
            "502 5.5.2 Command not recognized\r\n".into()
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
