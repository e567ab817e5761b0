//! HTTPS calls for scheduled meetings (see [`conclave_protocol::schedule`] for the endpoints).

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::account::{AccountError, http_client, send_json};
use super::tls::TlsTrust;
use conclave_protocol::schedule::{
    MeetingUpdate, ScheduleRequest, ScheduleResponse, ScheduledMeeting,
};

/// A signed-in host's connection to the scheduling API.
pub struct Scheduler {
    server: String,
    token: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// For the server at `server` (`host:port`), with a sign-in bearer token.
    pub fn new(server: &str, trust: &TlsTrust, token: &str) -> Result<Self, AccountError> {
        Ok(Self {
            server: server.to_owned(),
            token: token.to_owned(),
            client: http_client(trust)?,
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, AccountError> {
        let mut request = self
            .client
            .request(method, format!("https://{}{path}", self.server))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        send_json(request).await
    }

    /// Schedules a meeting; the answer carries the password, this once.
    pub async fn schedule(
        &self,
        request: &ScheduleRequest,
    ) -> Result<ScheduleResponse, AccountError> {
        self.call(Method::POST, "/v1/schedule", Some(request)).await
    }

    /// The caller's scheduled meetings.
    pub async fn list(&self) -> Result<Vec<ScheduledMeeting>, AccountError> {
        self.call(Method::GET, "/v1/schedule", None::<&()>).await
    }

    /// One of the caller's scheduled meetings.
    pub async fn get(&self, number: &str) -> Result<ScheduledMeeting, AccountError> {
        self.call(
            Method::GET,
            &format!("/v1/schedule/{}", path_segment(number)?),
            None::<&()>,
        )
        .await
    }

    /// Changes the given fields; the answer carries a password only if this call set one.
    pub async fn update(
        &self,
        number: &str,
        update: &MeetingUpdate,
    ) -> Result<ScheduleResponse, AccountError> {
        self.call(
            Method::PATCH,
            &format!("/v1/schedule/{}", path_segment(number)?),
            Some(update),
        )
        .await
    }

    /// Cancels the meeting; the answer is its final state (for the cancellation notice).
    pub async fn cancel(&self, number: &str) -> Result<ScheduledMeeting, AccountError> {
        self.call(
            Method::DELETE,
            &format!("/v1/schedule/{}", path_segment(number)?),
            None::<&()>,
        )
        .await
    }
}

/// Meeting numbers are digits; anything else must not reach a URL path.
fn path_segment(number: &str) -> Result<&str, AccountError> {
    if !number.is_empty() && number.len() <= 32 && number.bytes().all(|b| b.is_ascii_digit()) {
        Ok(number)
    } else {
        Err(AccountError::Refused {
            status: 400,
            message: format!("{number:?} is not a meeting number"),
        })
    }
}
