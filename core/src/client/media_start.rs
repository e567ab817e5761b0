//! Starting a member's media, written once for the app, the CLI, the tests and the load bots:
//! create the peer connection on the sockets [`LinkOptions`] names (UDP, and ICE-TCP as the
//! fallback when TCP addresses are given: ICE then uses whichever path works), send the offer,
//! apply the SFU's answer, wait until media can flow, and from then on answer the SFU's
//! renegotiation offers on the link (it offers whenever a publisher's tracks are added or
//! removed).
//!
//! The signalling the set-up rides on is a [`MediaSignalling`]: a meeting connection
//! ([`super::MeetingClient::start_media`], the usual way) or, for tests and load bots that talk
//! to an SFU without a server, anything else that carries one offer out and its answer back.
//! SDP never passes through the engine's events.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use conclave_protocol::ErrorCode;
use conclave_rtc::transport::{LinkOptions, MediaLink, TransportError};

/// How long the SFU may take to answer an offer.
pub const ANSWER_PATIENCE: Duration = Duration::from_secs(15);

/// Why media could not start.
#[derive(Debug, thiserror::Error)]
pub enum MediaStartError {
    /// The peer connection could not be created, or never connected.
    #[error(transparent)]
    Link(#[from] TransportError),
    /// The server refused the offer (not a member yet, too many offers).
    #[error("the server refused the media connection ({0:?})")]
    Refused(ErrorCode),
    /// No answer came in time.
    #[error("the server did not answer the media offer")]
    NoAnswer,
    /// The meeting connection closed before the answer came.
    #[error("the meeting connection closed")]
    Closed,
}

/// The signalling a media link is set up over.
pub trait MediaSignalling: Send {
    /// Sends this client's offer and waits for the SFU's answer.
    fn exchange(
        &mut self,
        offer: String,
    ) -> impl Future<Output = Result<String, MediaStartError>> + Send;

    /// The link is up: from now on the SFU's renegotiation offers are to be answered on it
    /// (with [`answer_offers`], say).
    fn attach(self, link: Arc<MediaLink>);
}

/// Starts media over `signalling`: offer, answer, connection, renegotiation. The link is
/// closed again on every failure.
pub async fn connect_media(
    options: &LinkOptions,
    mut signalling: impl MediaSignalling,
) -> Result<Arc<MediaLink>, MediaStartError> {
    let (link, offer) = MediaLink::offer_with(options).await?;
    let answer = match tokio::time::timeout(ANSWER_PATIENCE, signalling.exchange(offer)).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            link.close().await;
            return Err(e);
        }
        Err(_) => {
            link.close().await;
            return Err(MediaStartError::NoAnswer);
        }
    };
    if let Err(e) = link.accept_answer(&answer).await {
        link.close().await;
        return Err(e.into());
    }
    let link = Arc::new(link);
    signalling.attach(Arc::clone(&link));
    Ok(link)
}

/// Answers the SFU's renegotiation offers on `link`, one at a time and in order, handing each
/// answer to `send_answer` (which says whether the signalling is still there). Ends when
/// `offers` closes or the signalling is gone.
pub fn answer_offers(
    link: Arc<MediaLink>,
    mut offers: mpsc::UnboundedReceiver<String>,
    mut send_answer: impl FnMut(String) -> bool + Send + 'static,
) {
    tokio::spawn(async move {
        while let Some(offer) = offers.recv().await {
            match link.accept_offer(&offer).await {
                Ok(answer) => {
                    if !send_answer(answer) {
                        break;
                    }
                }
                // The SFU gives up on an unanswered offer and tries again later.
                Err(e) => tracing::warn!(error = %e, "cannot apply the SFU's media offer"),
            }
        }
    });
}
