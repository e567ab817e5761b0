//! A diagnostic lossy network: drops a chosen fraction of a peer connection's UDP datagrams at
//! random, in both directions, to show how the media path holds up on a bad link (Opus FEC,
//! NACK retransmission, jitter buffer and concealment).
//!
//! webrtc-rs 0.21 opens its sockets through the [`Runtime`] it is built with
//! (`Runtime::wrap_udp_socket`), so [`LossyRuntime`] wraps the default runtime and hands the
//! connection sockets that forget some datagrams. Nothing else changes: ICE keep-alives, RTCP
//! and SRTP run over the same lossy sockets as media does. The media link arms the loss once
//! the connection is up ([`LossyRuntime::armed_by`]), so set-up is not what is measured.
//!
//! It can also put a narrow uplink in front of the sockets ([`LossyRuntime::with_uplink`]):
//! sent datagrams then wait in a [`BottleneckQueue`] and leave at its rate, or are dropped when
//! the queue is full. That is congestion: loss and delay that sending less relieves.

use std::fmt;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::mpsc;

use crate::bottleneck::{Bottleneck, BottleneckQueue};
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    Transmit,
};

/// What a lossy link did: datagrams dropped and delivered in each direction.
#[derive(Debug, Default)]
pub struct LossCounters {
    sent: AtomicU64,
    send_dropped: AtomicU64,
    received: AtomicU64,
    receive_dropped: AtomicU64,
    uplink_dropped: AtomicU64,
}

/// A snapshot of [`LossCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossReport {
    pub sent: u64,
    pub send_dropped: u64,
    pub received: u64,
    pub receive_dropped: u64,
    /// Sent datagrams the narrow uplink's full queue dropped.
    pub uplink_dropped: u64,
}

impl LossCounters {
    pub fn report(&self) -> LossReport {
        LossReport {
            sent: self.sent.load(Ordering::Relaxed),
            send_dropped: self.send_dropped.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            receive_dropped: self.receive_dropped.load(Ordering::Relaxed),
            uplink_dropped: self.uplink_dropped.load(Ordering::Relaxed),
        }
    }
}

/// Why a loss setting was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("a simulated loss must be a fraction from 0 to 1 (below 1), not {0}")]
pub struct BadLoss(pub f64);

/// A drop probability in `[0, 1)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossRate(f64);

impl LossRate {
    pub fn new(fraction: f64) -> Result<Self, BadLoss> {
        if fraction.is_finite() && (0.0..1.0).contains(&fraction) {
            Ok(Self(fraction))
        } else {
            Err(BadLoss(fraction))
        }
    }

    /// From a percentage, as `--simulate-loss 10` gives it.
    pub fn percent(percent: f64) -> Result<Self, BadLoss> {
        Self::new(percent / 100.0)
    }

    pub fn fraction(self) -> f64 {
        self.0
    }

    /// No random loss (a link that is only narrow).
    pub fn none() -> Self {
        Self(0.0)
    }

    fn drop_one(self) -> bool {
        self.0 > 0.0 && rand::thread_rng().gen_bool(self.0)
    }
}

/// The default runtime, except that UDP sockets lose datagrams at `rate` (and, optionally,
/// send through a narrow uplink).
pub struct LossyRuntime {
    inner: Arc<dyn Runtime>,
    rate: LossRate,
    uplink: Option<Bottleneck>,
    counters: Arc<LossCounters>,
    armed: Arc<AtomicBool>,
}

impl fmt::Debug for LossyRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LossyRuntime")
            .field("rate", &self.rate)
            .field("uplink", &self.uplink)
            .finish()
    }
}

impl LossyRuntime {
    pub fn new(inner: Arc<dyn Runtime>, rate: LossRate) -> Self {
        Self {
            inner,
            rate,
            uplink: None,
            counters: Arc::default(),
            armed: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Every socket also sends through `uplink` (while armed).
    pub fn with_uplink(mut self, uplink: Bottleneck) -> Self {
        self.uplink = Some(uplink);
        self
    }

    /// Drops datagrams only while `armed` holds (the media link arms it once connected, so
    /// what is measured is media over a lossy link, not connection set-up under loss).
    pub fn armed_by(mut self, armed: Arc<AtomicBool>) -> Self {
        self.armed = armed;
        self
    }

    /// The counters shared by every socket this runtime wraps.
    pub fn counters(&self) -> Arc<LossCounters> {
        Arc::clone(&self.counters)
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime for LossyRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let inner = self.inner.wrap_udp_socket(socket)?;
        let uplink = self.uplink.map(|link| {
            let (queued, departures) = mpsc::unbounded_channel();
            self.inner.spawn(Box::pin(pace(
                Arc::clone(&self.inner),
                Arc::clone(&inner),
                departures,
            )));
            Uplink {
                queue: std::sync::Mutex::new(BottleneckQueue::new(link)),
                queued,
            }
        });
        Ok(Arc::new(LossySocket {
            inner,
            rate: self.rate,
            uplink,
            counters: Arc::clone(&self.counters),
            armed: Arc::clone(&self.armed),
        }))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "lossy"
    }
}

struct LossySocket {
    inner: Arc<dyn AsyncUdpSocket>,
    rate: LossRate,
    uplink: Option<Uplink>,
    counters: Arc<LossCounters>,
    armed: Arc<AtomicBool>,
}

/// A socket's narrow uplink: the schedule, and the datagrams waiting for their departure.
struct Uplink {
    queue: std::sync::Mutex<BottleneckQueue>,
    queued: mpsc::UnboundedSender<Departure>,
}

/// A datagram admitted to the uplink, sent at `at`.
struct Departure {
    at: Instant,
    destination: SocketAddr,
    src_ip: Option<std::net::IpAddr>,
    contents: Vec<u8>,
}

/// Sends each admitted datagram when the uplink has carried it, in order. Ends when the
/// socket is gone. (The queue holds at most the bottleneck's queue time of datagrams: the
/// schedule drops the rest before they get here.)
async fn pace(
    runtime: Arc<dyn Runtime>,
    socket: Arc<dyn AsyncUdpSocket>,
    mut departures: mpsc::UnboundedReceiver<Departure>,
) {
    while let Some(datagram) = departures.recv().await {
        let wait = datagram.at.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            runtime.sleep(wait).await;
        }
        let transmit = Transmit {
            destination: datagram.destination,
            ecn: None,
            contents: &datagram.contents,
            segment_size: None,
            src_ip: datagram.src_ip,
        };
        // A send error is a lost datagram, as on a real link.
        let _ = std::future::poll_fn(|cx| socket.poll_send(cx, &transmit)).await;
    }
}

impl fmt::Debug for LossySocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LossySocket")
            .field("inner", &self.inner)
            .field("rate", &self.rate)
            .finish()
    }
}

impl AsyncUdpSocket for LossySocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// One datagram per send, so each one can be dropped on its own.
    fn max_gso_segments(&self) -> usize {
        1
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        if self.armed.load(Ordering::Relaxed) && self.rate.drop_one() {
            self.counters.send_dropped.fetch_add(1, Ordering::Relaxed);
            // Lost on the way: the sender cannot tell.
            return Poll::Ready(Ok(transmit.contents.len()));
        }
        if let Some(uplink) = self
            .uplink
            .as_ref()
            .filter(|_| self.armed.load(Ordering::Relaxed))
        {
            let departure = match uplink.queue.lock() {
                Ok(mut queue) => queue.admit(transmit.contents.len(), Instant::now()),
                Err(_) => None,
            };
            let Some(at) = departure else {
                self.counters.uplink_dropped.fetch_add(1, Ordering::Relaxed);
                return Poll::Ready(Ok(transmit.contents.len()));
            };
            let waiting = Departure {
                at,
                destination: transmit.destination,
                src_ip: transmit.src_ip,
                contents: transmit.contents.to_vec(),
            };
            if uplink.queued.send(waiting).is_ok() {
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            return Poll::Ready(Ok(transmit.contents.len()));
        }
        let sent = self.inner.poll_send(cx, transmit);
        if matches!(sent, Poll::Ready(Ok(_))) {
            self.counters.sent.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        loop {
            let n = match self.inner.poll_recv(cx, bufs, meta) {
                Poll::Ready(Ok(n)) => n.min(bufs.len()).min(meta.len()),
                other => return other,
            };
            let mut kept = 0;
            for i in 0..n {
                let mut message = meta[i];
                let len = message.len.min(bufs[i].len());
                let stride = message.stride.max(1);
                let remaining = self.drop_segments(&mut bufs[i][..len], stride);
                if remaining == 0 && len > 0 {
                    continue;
                }
                message.len = remaining;
                message.stride = stride.min(remaining.max(1));
                if kept != i {
                    let (front, back) = bufs.split_at_mut(i);
                    let room = front[kept].len().min(remaining);
                    front[kept][..room].copy_from_slice(&back[0][..room]);
                    message.len = room;
                }
                meta[kept] = message;
                kept += 1;
            }
            if kept > 0 {
                return Poll::Ready(Ok(kept));
            }
            // Everything that arrived was lost: wait for more (the inner poll registers `cx`
            // when nothing is ready).
        }
    }
}

impl LossySocket {
    /// Drops some of the `stride`-sized datagrams coalesced (GRO) in `buf`, moving the kept
    /// ones to the front; returns their total length.
    fn drop_segments(&self, buf: &mut [u8], stride: usize) -> usize {
        let mut write = 0;
        let mut start = 0;
        loop {
            let end = (start + stride).min(buf.len());
            if self.armed.load(Ordering::Relaxed) && self.rate.drop_one() {
                self.counters
                    .receive_dropped
                    .fetch_add(1, Ordering::Relaxed);
            } else {
                self.counters.received.fetch_add(1, Ordering::Relaxed);
                buf.copy_within(start..end, write);
                write += end - start;
            }
            start = end;
            if start >= buf.len() {
                return write;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback socket wrapped by `runtime`, and a plain one to talk to it.
    async fn wrapped_and_plain(
        runtime: &LossyRuntime,
    ) -> (Arc<dyn AsyncUdpSocket>, tokio::net::UdpSocket) {
        let wrapped = runtime
            .wrap_udp_socket(std::net::UdpSocket::bind("127.0.0.1:0").expect("bind"))
            .expect("wrap");
        let plain = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        (wrapped, plain)
    }

    #[test]
    fn loss_rates_outside_zero_to_one_are_refused() {
        assert!(LossRate::percent(10.0).is_ok());
        assert!(LossRate::new(0.0).is_ok());
        for bad in [-0.1, 1.0, 2.0, f64::NAN, f64::INFINITY] {
            assert!(LossRate::new(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_lossy_socket_loses_about_the_chosen_fraction_both_ways() {
        let runtime = LossyRuntime::new(
            webrtc::runtime::default_runtime().expect("tokio runtime"),
            LossRate::percent(10.0).expect("valid"),
        );
        let counters = runtime.counters();
        let (lossy, plain) = wrapped_and_plain(&runtime).await;
        let plain_addr = plain.local_addr().expect("addr");
        let lossy_addr = lossy.local_addr().expect("addr");
        const N: usize = 2000;
        const BATCH: usize = 100;
        let (mut arrived_plain, mut arrived_lossy) = (0, 0);
        let mut buf = [0u8; 64];
        // In batches the kernel's socket buffers hold, so only the simulation loses anything.
        for batch in 0..N / BATCH {
            for i in batch * BATCH..(batch + 1) * BATCH {
                let payload = (i as u32).to_be_bytes();
                lossy.send_to(&payload, plain_addr).await.expect("send");
                plain.send_to(&payload, lossy_addr).await.expect("send");
            }
            while let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_millis(30), plain.recv_from(&mut buf)).await
            {
                arrived_plain += 1;
            }
            while let Ok(Ok((len, _))) =
                tokio::time::timeout(Duration::from_millis(30), lossy.recv_from(&mut buf)).await
            {
                assert_eq!(len, 4, "a kept datagram arrives whole");
                arrived_lossy += 1;
            }
        }
        // 10 % of 2000: 200 expected, binomial σ ≈ 13; ±70 is over 5σ.
        for (way, arrived) in [("out", arrived_plain), ("in", arrived_lossy)] {
            let lost = N - arrived;
            assert!((130..=270).contains(&lost), "{way}: lost {lost} of {N}");
        }
        let report = counters.report();
        assert_eq!(report.send_dropped as usize, N - arrived_plain);
        assert_eq!(report.receive_dropped as usize, N - arrived_lossy);
    }

    #[tokio::test]
    async fn a_narrow_uplink_paces_what_fits_in_its_queue_and_drops_the_rest() {
        // 100 kbit/s: a 972-byte datagram (1,000 with IP and UDP headers) takes 80 ms; the
        // 200 ms queue takes three of a burst.
        let uplink = Bottleneck::new(100_000, Duration::from_millis(200)).expect("valid");
        let runtime = LossyRuntime::new(
            webrtc::runtime::default_runtime().expect("tokio runtime"),
            LossRate::none(),
        )
        .with_uplink(uplink);
        let counters = runtime.counters();
        let (narrow, plain) = wrapped_and_plain(&runtime).await;
        let plain_addr = plain.local_addr().expect("addr");
        let sent_at = Instant::now();
        for i in 0..40u8 {
            let mut datagram = vec![0u8; 972];
            datagram[0] = i;
            narrow.send_to(&datagram, plain_addr).await.expect("send");
        }
        let mut buf = [0u8; 2048];
        let mut arrivals = Vec::new();
        while let Ok(Ok((len, _))) =
            tokio::time::timeout(Duration::from_millis(500), plain.recv_from(&mut buf)).await
        {
            assert_eq!(len, 972, "a datagram arrives whole");
            arrivals.push((buf[0], sent_at.elapsed()));
        }
        let order: Vec<u8> = arrivals.iter().map(|(i, _)| *i).collect();
        // Three fit the queue at once; a slow machine, taking longer than 80 ms over the 40
        // sends, may let one or two more in as the link drains, but never most of them.
        assert!(
            order.len() >= 3 && order.len() <= 6 && order[..3] == [0, 1, 2],
            "the first three fit the queue, in order: {order:?}"
        );
        assert!(order.windows(2).all(|w| w[0] < w[1]), "in order: {order:?}");
        for (k, (_, at)) in arrivals.iter().enumerate() {
            // Never earlier than the link could carry it (a busy machine only makes it later).
            let earliest = Duration::from_millis(80) * (k as u32 + 1);
            assert!(*at >= earliest, "datagram {k} arrived after {at:?}");
        }
        assert_eq!(
            counters.report().uplink_dropped as usize,
            40 - order.len(),
            "every datagram that did not arrive was dropped by the full queue"
        );

        // Once the queue has drained, the link carries a datagram again.
        narrow.send_to(&[7u8; 100], plain_addr).await.expect("send");
        let (len, _) = tokio::time::timeout(Duration::from_secs(5), plain.recv_from(&mut buf))
            .await
            .expect("the drained link delivers")
            .expect("recv");
        assert_eq!(len, 100);
    }
}
