//! Load bot: SFU forwarding throughput per CPU-second. The real SFU (`conclave_server::sfu`)
//! runs in its own process (this example re-executed with `--serve`, a multi-threaded tokio
//! runtime like `conclaved`'s), so its CPU time can be read from `/proc/<pid>/stat` alone.
//! N bots each open a real WebRTC connection to it (ICE, DTLS-SRTP) and publish 110-byte
//! payloads (the size of an SFrame audio frame) at a paced rate; every bot counts what it
//! receives. The figure is packets received by the bots ÷ the SFU process's CPU seconds.
//!
//! Run: `cargo run --release -p conclave-tests --example sfu_load -- N [RATE] [SECS]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conclave_core::client::media_start::{MediaSignalling, MediaStartError, connect_media};
use conclave_protocol::{ParticipantId, ServerMessage};
use conclave_rtc::transport::{LinkOptions, MediaLink};
use conclave_server::sfu::{Sfu, Signal};

const USAGE: &str = "\
sfu_load N [RATE] [SECS]

N       participants (bots), each publishing and receiving through the SFU (e.g. 5, 10, 20)
RATE    packets per second the SFU should forward in total (default 20000); each bot publishes
        RATE / (N × (N − 1)) packets per second
SECS    measured seconds after the warm-up (default 10): at least 3 s, and until the bots
        receive what is owed to them (every track set up), for at most 60 s

The SFU runs in a child process (this program with --serve); its pid is printed so that
`perf record -g -p PID` can profile it while the bots run. With SFU_LOAD_SDP=1 the size of
each renegotiation offer the SFU sends is printed too.";

const PAYLOAD_BYTES: usize = 110;
const MEETING: &str = "load";
/// Publishers send in batches every 10 ms (tokio timers have millisecond granularity).
const BATCH_INTERVAL: Duration = Duration::from_millis(10);
/// Warm-up: at least this long, then until the received rate is what is owed, at most this.
const WARM_UP_MIN: Duration = Duration::from_secs(3);
const WARM_UP_WINDOW: Duration = Duration::from_millis(500);
const WARM_UP_MAX: Duration = Duration::from_secs(60);

/// CPU seconds (user + system, all threads) of process `pid` so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds per thread name of process `pid` (threads alive now).
fn cpu_by_thread(pid: u32) -> Vec<(String, f64)> {
    let mut by_name: std::collections::BTreeMap<String, f64> = Default::default();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let name = stat[stat.find('(').unwrap() + 1..stat.rfind(')').unwrap()].to_owned();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        *by_name.entry(name).or_default() += ticks / clock_ticks_per_second();
    }
    by_name.into_iter().collect()
}

/// The SFU process: answers offers read from stdin (one JSON object a line), sends its own
/// renegotiation offers as `{"id", "offer"}` lines and takes `{"id", "answer"}` back, then
/// forwards.
async fn serve() {
    let sfu = Sfu::new("127.0.0.1:0");
    let mut members = Vec::new();
    // Read stdin on its own thread so no runtime worker ever blocks on it.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        let request: serde_json::Value = serde_json::from_str(&line).unwrap();
        if request["start"].as_bool() == Some(true) {
            sfu.set_meeting_members(MEETING, &members);
            println!("{}", serde_json::json!({"started": true}));
            std::io::stdout().flush().unwrap();
            continue;
        }
        let id = ParticipantId(request["id"].as_u64().unwrap());
        if let Some(answer) = request["answer"].as_str() {
            sfu.accept_answer(id, answer.to_owned()).unwrap();
            continue;
        }
        let signal: Signal = Box::new(move |message| {
            if let ServerMessage::SdpOffer { sdp } = message {
                println!("{}", serde_json::json!({"id": id.0, "offer": sdp}));
                std::io::stdout().flush().unwrap();
            }
        });
        let answer = sfu
            .answer(id, MEETING, request["offer"].as_str().unwrap(), signal)
            .await
            .unwrap();
        members.push(id);
        println!("{}", serde_json::json!({"answer": answer}));
        std::io::stdout().flush().unwrap();
    }
}

/// The SFU child process: requests on its stdin; its replies come back in order, and its
/// renegotiation offers are answered on the bots' links as they arrive.
struct SfuProcess {
    child: Child,
    input: Arc<Mutex<ChildStdin>>,
    replies: tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
    links: Arc<Mutex<HashMap<u64, Arc<MediaLink>>>>,
}

impl SfuProcess {
    fn spawn() -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = Arc::new(Mutex::new(child.stdin.take().unwrap()));
        let output = std::io::BufReader::new(child.stdout.take().unwrap());
        let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
        std::thread::spawn(move || {
            for line in output.lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    break;
                }
            }
        });
        let (replies_tx, replies) = tokio::sync::mpsc::unbounded_channel();
        let links: Arc<Mutex<HashMap<u64, Arc<MediaLink>>>> = Arc::default();
        let (answer_to, links_of) = (Arc::clone(&input), Arc::clone(&links));
        tokio::spawn(async move {
            while let Some(line) = lines.recv().await {
                let Some(offer) = line["offer"].as_str() else {
                    let _ = replies_tx.send(line);
                    continue;
                };
                let id = line["id"].as_u64().unwrap();
                if std::env::var_os("SFU_LOAD_SDP").is_some() {
                    eprintln!("offer to bot {id}: {} bytes", offer.len());
                }
                let link = Arc::clone(&links_of.lock().unwrap()[&id]);
                let answer = link.accept_offer(offer).await.unwrap();
                let mut input = answer_to.lock().unwrap();
                writeln!(input, "{}", serde_json::json!({"id": id, "answer": answer})).unwrap();
                input.flush().unwrap();
            }
        });
        Self {
            child,
            input,
            replies,
            links,
        }
    }

    async fn request(&mut self, request: serde_json::Value) -> serde_json::Value {
        {
            let mut input = self.input.lock().unwrap();
            writeln!(input, "{request}").unwrap();
            input.flush().unwrap();
        }
        self.replies.recv().await.unwrap()
    }
}

/// One bot's media signalling over the SFU process's pipe; once its link is up, the
/// process's renegotiation offers for this bot are answered on it.
struct BotSignalling<'a> {
    sfu: &'a mut SfuProcess,
    id: u64,
}

impl MediaSignalling for BotSignalling<'_> {
    async fn exchange(&mut self, offer: String) -> Result<String, MediaStartError> {
        let reply = self
            .sfu
            .request(serde_json::json!({"id": self.id, "offer": offer}))
            .await;
        reply["answer"]
            .as_str()
            .map(str::to_owned)
            .ok_or(MediaStartError::NoAnswer)
    }

    fn attach(self, link: Arc<MediaLink>) {
        self.sfu.links.lock().unwrap().insert(self.id, link);
    }
}

#[tokio::main]
async fn main() {
    conclave_tests::log_to_stderr();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        serve().await;
        return;
    }
    let Some(participants) = args.first().and_then(|a| a.parse::<u64>().ok()) else {
        println!("{USAGE}");
        return;
    };
    assert!(participants >= 2, "{USAGE}");
    let rate: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000.0);
    let secs: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let per_publisher = rate / (participants * (participants - 1)) as f64;
    let per_batch = (per_publisher * BATCH_INTERVAL.as_secs_f64()).max(1.0);

    let mut sfu = SfuProcess::spawn();
    println!("SFU process pid {}", sfu.child.id());
    let mut links = Vec::new();
    for id in 1..=participants {
        let signalling = BotSignalling { sfu: &mut sfu, id };
        let link = connect_media(&LinkOptions::udp("127.0.0.1:0"), signalling)
            .await
            .unwrap();
        links.push(link);
    }
    sfu.request(serde_json::json!({"start": true})).await;

    let sent = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    for link in &links {
        let (link_rx, received) = (Arc::clone(link), Arc::clone(&received));
        tokio::spawn(async move {
            while link_rx.next_audio().await.is_some() {
                received.fetch_add(1, Ordering::Relaxed);
            }
        });
        let (link, sent) = (Arc::clone(link), Arc::clone(&sent));
        tokio::spawn(async move {
            let payload: Vec<u8> = (0..PAYLOAD_BYTES).map(|_| rand_byte()).collect();
            let mut ticker = tokio::time::interval(BATCH_INTERVAL);
            let mut owed = 0.0;
            loop {
                ticker.tick().await;
                owed += per_batch;
                while owed >= 1.0 {
                    if link.send_audio(&payload).await.is_err() {
                        return;
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                    owed -= 1.0;
                }
            }
        });
    }

    warm_up(&sent, &received, participants - 1).await;
    let pid = sfu.child.id();
    let (sent_0, received_0, cpu_0, bots_0) = (
        sent.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
        cpu_seconds(pid),
        cpu_seconds(std::process::id()),
    );
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let sent = (sent.load(Ordering::Relaxed) - sent_0) as f64;
    let received = (received.load(Ordering::Relaxed) - received_0) as f64;
    let cpu = cpu_seconds(pid) - cpu_0;
    let bots_cpu = cpu_seconds(std::process::id()) - bots_0;
    let expected = sent * (participants - 1) as f64;

    println!(
        "{participants} participants, {secs} s measured: published {:.0} pkt/s, forwarded and \
         received {:.0} pkt/s ({:.1} % of the {:.0} pkt/s owed)",
        sent / elapsed,
        received / elapsed,
        100.0 * received / expected.max(1.0),
        expected / elapsed
    );
    println!(
        "SFU process CPU: {:.2} s in {elapsed:.1} s ({:.0} % of one core); bots' process: {:.2} s",
        cpu,
        100.0 * cpu / elapsed,
        bots_cpu
    );
    println!(
        "=> {:.0} forwarded packets per SFU CPU-second (target ≥ 250000)",
        received / cpu.max(0.001)
    );
    println!("SFU CPU by thread (whole run, incl. setup):");
    for (name, seconds) in cpu_by_thread(pid) {
        if seconds > 0.0 {
            println!("  {name:<20} {seconds:.2} s");
        }
    }
    for link in &links {
        link.close().await;
    }
    let _ = sfu.child.kill();
    let _ = sfu.child.wait();
}

/// Warm-up before the measured window: at least [`WARM_UP_MIN`], then until the bots receive at
/// least 90 % of what is owed to them over a [`WARM_UP_WINDOW`] (every track set up and
/// forwarding), for at most [`WARM_UP_MAX`]; an SFU that never gets there is measured anyway
/// (the figure printed shows how much of what was owed it forwarded).
async fn warm_up(sent: &AtomicU64, received: &AtomicU64, receivers_per_packet: u64) {
    let started = Instant::now();
    tokio::time::sleep(WARM_UP_MIN).await;
    let counts = || {
        (
            sent.load(Ordering::Relaxed),
            received.load(Ordering::Relaxed),
        )
    };
    let mut last = counts();
    loop {
        tokio::time::sleep(WARM_UP_WINDOW).await;
        let now = counts();
        let owed = (now.0 - last.0) * receivers_per_packet;
        let got = now.1 - last.1;
        if got * 10 >= owed * 9 {
            println!(
                "warmed up in {:.1} s ({got} of {owed} packets owed in the last {:?})",
                started.elapsed().as_secs_f64(),
                WARM_UP_WINDOW
            );
            return;
        }
        if started.elapsed() >= WARM_UP_MAX {
            println!(
                "not warmed up after {WARM_UP_MAX:?} ({got} of {owed} packets owed in the last \
                 {WARM_UP_WINDOW:?}); measuring anyway"
            );
            return;
        }
        last = now;
    }
}

/// Payload bytes need only look like ciphertext to the SFU (it never reads them).
fn rand_byte() -> u8 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    hasher.finish() as u8
}
