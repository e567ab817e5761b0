//! One Conclave per data directory: a second launch (a meeting link opened from a browser or
//! a mail) hands its link to the one already running and exits, so no second window opens.
//!
//! The running app listens on a loopback TCP port and writes the port and a random secret to
//! `instance` in its data directory (readable by the user only); a second launch sends the
//! secret and the link there. Loopback TCP with a secret works the same on Linux, Windows and
//! macOS without a platform IPC crate; other local users cannot read the secret, and each
//! connection is bounded in size and time, one at a time, so a local flood cannot grow memory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore as _;

const FILE: &str = "instance";
/// A message is the secret and one link: anything longer is not ours.
const MAX_MESSAGE: u64 = 4096;
const TIMEOUT: Duration = Duration::from_secs(2);

static RUNNING: std::sync::OnceLock<Arc<Primary>> = std::sync::OnceLock::new();

/// Keeps this launch's listener for the app's lifetime (main calls it once).
pub fn install(primary: Arc<Primary>) {
    let _ = RUNNING.set(primary);
}

/// The listener, when this process is the running Conclave.
pub fn installed() -> Option<Arc<Primary>> {
    RUNNING.get().cloned()
}

/// What a launch found.
pub enum Claim {
    /// This process is the running Conclave: it takes links from later launches.
    Primary(Arc<Primary>),
    /// Another Conclave is running and took this launch's link (if any); exit.
    HandedOver,
}

/// The running Conclave's end: the listener and the secret later launches must show.
pub struct Primary {
    listener: TcpListener,
    secret: String,
}

impl std::fmt::Debug for Primary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Primary")
            .field("listener", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

/// Hands `link` to a Conclave already running on `data_dir`, or becomes the running one. Any
/// failure to become it (an unwritable data directory) leaves this launch working alone
/// rather than not starting: `Ok(None)`.
pub fn claim(data_dir: &Path, link: Option<&str>) -> Option<Claim> {
    let file = data_dir.join(FILE);
    if let Ok(text) = std::fs::read_to_string(&file)
        && hand_over(&text, link).is_ok()
    {
        return Some(Claim::HandedOver);
    }
    match become_primary(data_dir, &file) {
        Ok(primary) => Some(Claim::Primary(Arc::new(primary))),
        Err(error) => {
            tracing::warn!(%error, "links opened later will start another window");
            None
        }
    }
}

fn hand_over(record: &str, link: Option<&str>) -> std::io::Result<()> {
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, "damaged record");
    let (port, secret) = record.trim().split_once(' ').ok_or_else(invalid)?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    // A line break in a link would forge a second line: links never contain one.
    let link = link.unwrap_or_default().replace(['\r', '\n'], "");
    stream.write_all(format!("{secret}\n{link}\n").as_bytes())?;
    let mut answer = String::new();
    stream.take(16).read_to_string(&mut answer)?;
    if answer.trim() == "ok" {
        Ok(())
    } else {
        Err(invalid())
    }
}

fn become_primary(data_dir: &Path, file: &Path) -> std::io::Result<Primary> {
    std::fs::create_dir_all(data_dir)?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let port = listener.local_addr()?.port();
    write_private(file, &format!("{port} {secret}\n"))?;
    Ok(Primary { listener, secret })
}

/// Writes `text` to `file`, readable by this user only, replacing it in one step.
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    let temporary: PathBuf = file.with_extension("new");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(&temporary)?;
    out.write_all(text.as_bytes())?;
    out.sync_all()?;
    std::fs::rename(&temporary, file)
}

impl Primary {
    /// Waits for the next launch and returns its link (`Some("")`: launched without one).
    /// A connection without the secret, too long or too slow is dropped: `Ok(None)`.
    pub fn accept_one(&self) -> std::io::Result<Option<String>> {
        let (stream, _) = self.listener.accept()?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let mut reader = BufReader::new(stream.try_clone()?.take(MAX_MESSAGE));
        let mut secret = String::new();
        let mut link = String::new();
        if reader.read_line(&mut secret).is_err() || reader.read_line(&mut link).is_err() {
            return Ok(None);
        }
        if !same_secret(secret.trim_end(), &self.secret) {
            tracing::warn!("a local connection without the instance secret was dropped");
            return Ok(None);
        }
        let mut stream = stream;
        stream.write_all(b"ok\n")?;
        Ok(Some(link.trim_end().to_owned()))
    }
}

/// Compares without stopping at the first difference.
fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primary(dir: &Path) -> Arc<Primary> {
        match claim(dir, None) {
            Some(Claim::Primary(primary)) => primary,
            _ => panic!("the first launch runs"),
        }
    }

    #[test]
    fn a_second_launch_hands_its_link_to_the_running_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let running = primary(dir.path());
        let taker = {
            let running = Arc::clone(&running);
            std::thread::spawn(move || running.accept_one())
        };
        let link = "conclave://join/meet.example.org:8443/12345678901";
        assert!(matches!(
            claim(dir.path(), Some(link)),
            Some(Claim::HandedOver)
        ));
        let taken = taker.join().expect("thread").expect("accepted");
        assert_eq!(taken.as_deref(), Some(link));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(FILE))
                .expect("record")
                .permissions();
            assert_eq!(mode.mode() & 0o077, 0, "the secret is the user's only");
        }
    }

    #[test]
    fn a_connection_without_the_secret_is_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let running = primary(dir.path());
        let taker = {
            let running = Arc::clone(&running);
            std::thread::spawn(move || running.accept_one())
        };
        let port = running.listener.local_addr().expect("port").port();
        let forged = format!("{port} {}\n", "0".repeat(64));
        assert!(hand_over(&forged, Some("conclave://join/evil:1/1")).is_err());
        assert_eq!(taker.join().expect("thread").expect("accepted"), None);
    }

    #[test]
    fn a_stale_record_makes_this_launch_the_running_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let gone = {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
            listener.local_addr().expect("port").port()
        };
        std::fs::write(dir.path().join(FILE), format!("{gone} abc\n")).expect("write");
        assert!(matches!(
            claim(dir.path(), Some("x")),
            Some(Claim::Primary(_))
        ));
        std::fs::write(dir.path().join(FILE), "garbage").expect("write");
        assert!(matches!(claim(dir.path(), None), Some(Claim::Primary(_))));
    }
}
