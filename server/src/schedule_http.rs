//! HTTPS endpoints for scheduled meetings (see `conclave_protocol::schedule` for the API).
//!
//! Only the host and the co-hosts it named see a scheduled meeting, and only the host changes
//! or cancels it: every lookup is by number **and** account, and anyone else's meeting answers
//! 404 exactly like a number that does not exist.

// The helpers' `Err` is the finished HTTP response, built once per refused request: boxing it
// would only add an allocation on the error path.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use conclave_protocol::http::MeetingDefaults;
use conclave_protocol::schedule::{
    MAX_CO_HOSTS, MeetingOptions, MeetingUpdate, PasswordPolicy, ScheduleRequest, ScheduleResponse,
    ScheduledMeeting, When, validate_title,
};
use serde::Serialize;

use crate::auth::authenticate;
use crate::hub::{Hub, StoredOptions as _};
use crate::store::{SchedulePatch, ScheduleRecord, StoreError, UserRecord};

/// What the scheduling endpoints need besides the hub.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    /// The organization's rules for meeting passwords.
    pub password_policy: PasswordPolicy,
    /// `host:port` that invitations name.
    pub public_address: String,
}

#[derive(Clone)]
struct ScheduleState {
    hub: Arc<Hub>,
    settings: Arc<ScheduleSettings>,
}

/// The `/v1/schedule` routes.
pub fn routes(hub: Arc<Hub>, settings: ScheduleSettings) -> Router {
    Router::new()
        .route("/v1/schedule", get(list).post(schedule))
        .route(
            "/v1/schedule/{number}",
            get(show).patch(update).delete(cancel),
        )
        .with_state(ScheduleState {
            hub,
            settings: Arc::new(settings),
        })
}

/// A JSON error; `rule` names the password-policy rule that failed, for clients to localise.
fn refuse(status: StatusCode, message: &str, rule: Option<&str>) -> Response {
    #[derive(Serialize)]
    struct Body<'a> {
        error: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        rule: Option<&'a str>,
    }
    (
        status,
        Json(Body {
            error: message,
            rule,
        }),
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    refuse(StatusCode::BAD_REQUEST, message, None)
}

fn store_failure(e: &StoreError) -> Response {
    match e {
        StoreError::UnknownMeeting(_) => refuse(StatusCode::NOT_FOUND, "no such meeting", None),
        StoreError::Cancelled(_) => refuse(StatusCode::GONE, &e.to_string(), None),
        StoreError::Conflict { .. } => refuse(StatusCode::CONFLICT, &e.to_string(), None),
        StoreError::InvalidInput { .. } => bad_request(&e.to_string()),
        other => {
            tracing::error!(error = %other, "scheduling failed");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error", None)
        }
    }
}

async fn host(state: &ScheduleState, headers: &HeaderMap) -> Result<UserRecord, Response> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    authenticate(&state.hub, value).await.map_err(|status| {
        if status == StatusCode::UNAUTHORIZED {
            refuse(status, "sign in first", None)
        } else {
            refuse(status, "internal error", None)
        }
    })
}

/// Checks a host-chosen password against the policy, or generates one that satisfies it.
fn password_for(policy: &PasswordPolicy, chosen: Option<String>) -> Result<String, Response> {
    match chosen {
        None => Ok(policy.generate()),
        Some(password) => match policy.check(&password) {
            Ok(()) => Ok(password),
            Err(violation) => Err(refuse(
                StatusCode::BAD_REQUEST,
                &format!("the password does not meet the policy: {violation}"),
                Some(violation.code()),
            )),
        },
    }
}

/// Co-host usernames → account ids; refuses unknown names and too many.
async fn co_host_ids(
    state: &ScheduleState,
    host: &UserRecord,
    usernames: &[String],
) -> Result<Vec<String>, Response> {
    if usernames.len() > MAX_CO_HOSTS {
        return Err(bad_request(&format!("at most {MAX_CO_HOSTS} co-hosts")));
    }
    let mut ids = Vec::with_capacity(usernames.len());
    for username in usernames {
        match state.hub.store().user_by_username(username).await {
            Ok(Some(user)) if user.id != host.id => ids.push(user.id),
            Ok(Some(_)) => {}
            Ok(None) => return Err(bad_request(&format!("no such user: {username}"))),
            Err(e) => return Err(store_failure(&e)),
        }
    }
    Ok(ids)
}

async fn view(
    state: &ScheduleState,
    record: &ScheduleRecord,
    viewer: &UserRecord,
) -> Result<ScheduledMeeting, Response> {
    let when: When = serde_json::from_str(&record.timing_json).map_err(|e| {
        tracing::error!(error = %e, meeting = %record.meeting.number, "stored timing unreadable");
        refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error", None)
    })?;
    let store = state.hub.store();
    let host_id = record.meeting.host_user_id.as_deref().unwrap_or_default();
    let host_name = if host_id == viewer.id {
        viewer.display_name.clone()
    } else {
        match store.user_by_id(host_id).await {
            Ok(Some(host)) => host.display_name,
            Ok(None) => String::new(),
            Err(e) => return Err(store_failure(&e)),
        }
    };
    let mut co_hosts = Vec::with_capacity(record.co_host_ids.len());
    for id in &record.co_host_ids {
        match store.user_by_id(id).await {
            Ok(Some(user)) => co_hosts.push(user.username),
            Ok(None) => {}
            Err(e) => return Err(store_failure(&e)),
        }
    }
    Ok(ScheduledMeeting {
        number: record.meeting.number.clone(),
        uid: record.uid.clone(),
        sequence: record.sequence,
        title: record.meeting.title.clone(),
        when,
        options: MeetingOptions::from_json(&record.meeting.options_json),
        host_name,
        co_hosts,
        viewer_is_co_host: host_id != viewer.id,
        server: state.settings.public_address.clone(),
        cancelled: record.cancelled_at.is_some(),
    })
}

async fn answer(
    state: &ScheduleState,
    user: &UserRecord,
    record: &ScheduleRecord,
    password: Option<String>,
) -> Response {
    match view(state, record, user).await {
        Ok(meeting) => Json(ScheduleResponse { meeting, password }).into_response(),
        Err(response) => response,
    }
}

async fn audit(state: &ScheduleState, number: &str, user: &UserRecord, action: &str) {
    if let Err(e) = state
        .hub
        .store()
        .audit(Some(number), &user.id, action, None)
        .await
    {
        tracing::error!(error = %e, "audit log write failed");
    }
}

/// A scheduling request with the organisation's defaults for every option it leaves out.
fn with_defaults(
    mut body: serde_json::Value,
    defaults: &MeetingDefaults,
) -> Result<ScheduleRequest, Response> {
    if let Some(object) = body.as_object_mut() {
        let options = object
            .entry("options")
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
        if let Some(options) = options.as_object_mut() {
            defaults.fill_options_json(options);
        }
    }
    serde_json::from_value(body).map_err(|e| bad_request(&format!("invalid request body: {e}")))
}

/// `POST /v1/schedule`.
async fn schedule(
    State(state): State<ScheduleState>,
    headers: HeaderMap,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let user = match host(&state, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => {
            return bad_request(&format!("invalid request body: {}", rejection.body_text()));
        }
    };
    let request = match with_defaults(body, &state.hub.settings().meeting_defaults) {
        Ok(request) => request,
        Err(response) => return response,
    };
    if let Err(e) = validate_title(&request.title)
        .and_then(|()| request.when.validate())
        .and_then(|()| request.options.validate())
    {
        return bad_request(&e.to_string());
    }
    let co_hosts = match co_host_ids(&state, &user, &request.co_hosts).await {
        Ok(ids) => ids,
        Err(response) => return response,
    };
    let password = match password_for(&state.settings.password_policy, request.password) {
        Ok(password) => password,
        Err(response) => return response,
    };
    let timing = match serde_json::to_string(&request.when) {
        Ok(json) => json,
        Err(e) => {
            return store_failure(&StoreError::InvalidInput {
                field: "when",
                reason: e.to_string(),
            });
        }
    };
    match state
        .hub
        .store()
        .schedule_meeting(
            &user.id,
            &password,
            &request.title,
            &request.options.to_json(),
            &timing,
            &co_hosts,
        )
        .await
    {
        Ok(record) => {
            audit(&state, &record.meeting.number, &user, "meeting.schedule").await;
            answer(&state, &user, &record, Some(password)).await
        }
        Err(e) => store_failure(&e),
    }
}

/// `GET /v1/schedule`: the caller's own scheduled meetings.
async fn list(State(state): State<ScheduleState>, headers: HeaderMap) -> Response {
    let user = match host(&state, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    match state.hub.store().scheduled_meetings_of(&user.id).await {
        Ok(records) => {
            let mut meetings = Vec::with_capacity(records.len());
            for record in &records {
                match view(&state, record, &user).await {
                    Ok(meeting) => meetings.push(meeting),
                    Err(response) => return response,
                }
            }
            Json(meetings).into_response()
        }
        Err(e) => store_failure(&e),
    }
}

/// `GET /v1/schedule/{number}`.
async fn show(
    State(state): State<ScheduleState>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    let user = match host(&state, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    match state.hub.store().visible_schedule(&number, &user.id).await {
        Ok(Some(record)) => match view(&state, &record, &user).await {
            Ok(meeting) => Json(meeting).into_response(),
            Err(response) => response,
        },
        Ok(None) => store_failure(&StoreError::UnknownMeeting(number)),
        Err(e) => store_failure(&e),
    }
}

/// Turns an API update into a checked store patch, and the clear password it sets, if any.
fn patch_from(
    update: MeetingUpdate,
    policy: &PasswordPolicy,
) -> Result<(SchedulePatch, Option<String>), Response> {
    if let Some(title) = &update.title {
        validate_title(title).map_err(|e| bad_request(&e.to_string()))?;
    }
    let timing_json = match &update.when {
        Some(when) => {
            when.validate().map_err(|e| bad_request(&e.to_string()))?;
            Some(serde_json::to_string(when).map_err(|e| bad_request(&e.to_string()))?)
        }
        None => None,
    };
    let mut options = serde_json::Map::new();
    let mut set = |key: &str, value: serde_json::Value| {
        options.insert(key.to_owned(), value);
    };
    if let Some(v) = update.require_sign_in {
        set("require_sign_in", v.into());
    }
    if let Some(v) = update.lobby {
        set("lobby", v.into());
    }
    if let Some(v) = update.join_before_host {
        set("join_before_host", v.into());
    }
    if let Some(v) = update.exclude_password_from_invitation {
        set("exclude_password_from_invitation", v.into());
    }
    if let Some(minutes) = update.auto_lock_minutes {
        let check = MeetingOptions {
            auto_lock_minutes: minutes,
            ..MeetingOptions::default()
        };
        check.validate().map_err(|e| bad_request(&e.to_string()))?;
        // JSON null in a merge patch would delete the key, which reads back as "off" too.
        set(
            "auto_lock_minutes",
            minutes.map_or(serde_json::Value::Null, Into::into),
        );
    }
    let options_patch_json = if options.is_empty() {
        None
    } else {
        Some(serde_json::Value::Object(options).to_string())
    };
    let password = match (update.password, update.regenerate_password) {
        (Some(_), true) => {
            return Err(bad_request(
                "give a new password or ask for a generated one, not both",
            ));
        }
        (Some(chosen), false) => Some(password_for(policy, Some(chosen))?),
        (None, true) => Some(policy.generate()),
        (None, false) => None,
    };
    Ok((
        SchedulePatch {
            title: update.title,
            timing_json,
            options_patch_json,
            password: password.clone(),
            co_host_ids: None,
            if_sequence: update.if_sequence,
        },
        password,
    ))
}

/// `PATCH /v1/schedule/{number}`.
async fn update(
    State(state): State<ScheduleState>,
    headers: HeaderMap,
    Path(number): Path<String>,
    body: Result<Json<MeetingUpdate>, JsonRejection>,
) -> Response {
    let user = match host(&state, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let update = match body {
        Ok(Json(update)) => update,
        Err(rejection) => {
            return bad_request(&format!("invalid request body: {}", rejection.body_text()));
        }
    };
    let co_hosts = match &update.co_hosts {
        Some(names) => match co_host_ids(&state, &user, names).await {
            Ok(ids) => Some(ids),
            Err(response) => return response,
        },
        None => None,
    };
    let (mut patch, password) = match patch_from(update, &state.settings.password_policy) {
        Ok(patch) => patch,
        Err(response) => return response,
    };
    patch.co_host_ids = co_hosts;
    let password_changed = password.is_some();
    match state
        .hub
        .store()
        .update_schedule(&number, &user.id, patch)
        .await
    {
        Ok(record) => {
            audit(&state, &number, &user, "meeting.update").await;
            if password_changed {
                audit(&state, &number, &user, "meeting.password_change").await;
            }
            answer(&state, &user, &record, password).await
        }
        Err(e) => store_failure(&e),
    }
}

/// `DELETE /v1/schedule/{number}`: cancels (the record stays, for the cancellation notice).
async fn cancel(
    State(state): State<ScheduleState>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    let user = match host(&state, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    match state.hub.store().cancel_schedule(&number, &user.id).await {
        Ok(record) => {
            audit(&state, &number, &user, "meeting.cancel").await;
            match view(&state, &record, &user).await {
                Ok(meeting) => Json(meeting).into_response(),
                Err(response) => response,
            }
        }
        Err(e) => store_failure(&e),
    }
}
