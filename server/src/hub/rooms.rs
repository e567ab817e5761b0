//! The registry of live rooms: opened from the stored meeting on the first join, every
//! operation run under the rooms lock, freed when the session is over.

use std::time::{Duration, Instant};

use conclave_protocol::{DenyReason, ParticipantId, ServerMessage};

use super::{Hub, MeetingOptions, StoredOptions as _, lock};
use crate::room::{JoinRequest, Outgoing, Room, RoomError};
use crate::store::MeetingRecord;

/// How long an ended, empty room is kept before it is freed.
const ENDED_ROOM_GRACE: Duration = Duration::from_secs(10);

impl Hub {
    /// Media flows to and from exactly the room's MLS members.
    fn sync_media(&self, number: &str, room: &Room) {
        self.sfu.set_meeting_members(number, &room.members());
    }

    /// After a participant's media connection is set up: apply the room's membership to it.
    pub fn refresh_media(&self, number: &str) {
        if let Some(room) = lock(&self.rooms).get(number) {
            self.sync_media(number, room);
        }
    }

    /// Joins connection `id` to the stored meeting `record` (creating its room on first
    /// use). Returns `false`, sending nothing, when the meeting's room has ended.
    /// `co_hosts` are the accounts the schedule names as co-hosts.
    pub fn join(
        &self,
        id: ParticipantId,
        record: &MeetingRecord,
        co_hosts: &[String],
        request: JoinRequest,
    ) -> bool {
        let number = record.number.clone();
        let name = request.display_name.as_str().to_string();
        let mut rooms = lock(&self.rooms);
        let open = || self.open_room(record, co_hosts);
        let room = rooms.entry(number.clone()).or_insert_with(open);
        if room.is_ended() {
            if record.ended_at.is_some() {
                return false;
            }
            // A scheduled meeting outlives a session that was ended for all: the next
            // occurrence gets a fresh room (with the options as they are now).
            *room = open();
        }
        let device = crate::audit::device_fingerprint(&request.signature_key);
        self.set_meeting(id, number.clone(), name, device);
        let out = room.join(id, request, Instant::now());
        // A refusal by the room's rules (sign-in required, full, expelled) is a `denied` to
        // the joiner; anything else is a join (into the meeting or its lobby).
        let refusal = out.iter().find_map(|o| match &o.message {
            ServerMessage::Denied { reason } if o.to == id => Some(reason_name(reason)),
            _ => None,
        });
        let mut event = self.who(id);
        event.meeting_number = Some(number);
        event.action = match &refusal {
            Some(reason) => format!("join_refused.{reason}"),
            None => "participant.join".to_owned(),
        };
        self.audit_trail().record(event);
        self.mark_join_recorded(id, refusal.is_none());
        self.dispatch(out);
        self.sync_media(&record.number, room);
        true
    }

    /// Test builds only: in meeting `number` (opened now if need be), whoever joins as `name`
    /// is admitted at once and left out of every roster and lobby list, as a hostile server
    /// would hide a listener.
    #[cfg(feature = "test-hooks")]
    pub fn hide_participant_named(&self, record: &MeetingRecord, name: &str) {
        let mut rooms = lock(&self.rooms);
        let room = rooms
            .entry(record.number.clone())
            .or_insert_with(|| self.open_room(record, &[]));
        room.hide_participant_named(name);
    }

    fn open_room(&self, record: &MeetingRecord, co_hosts: &[String]) -> Room {
        let options = MeetingOptions::from_json(&record.options_json);
        tracing::info!(meeting = %record.number, "meeting room opened");
        Room::new(
            options.room_options(record.host_user_id.clone(), co_hosts.to_vec()),
            self.delivery.clone(),
            Instant::now(),
        )
    }

    /// Number of open rooms (live meeting sessions).
    pub fn room_count(&self) -> usize {
        lock(&self.rooms).len()
    }

    /// Whether the meeting has a room that was ended.
    pub fn room_ended(&self, number: &str) -> bool {
        lock(&self.rooms).get(number).is_some_and(Room::is_ended)
    }

    /// Runs `action` on the room connection `id` joined and delivers what it produced.
    /// Fails with [`RoomError::Ended`] when the connection is in no live room.
    pub fn with_room<E: From<RoomError>>(
        &self,
        id: ParticipantId,
        action: impl FnOnce(&mut Room) -> Result<Vec<Outgoing>, E>,
    ) -> Result<(), E> {
        let Some(number) = self.meeting_of(id) else {
            return Err(RoomError::Ended.into());
        };
        let mut rooms = lock(&self.rooms);
        let room = rooms.get_mut(&number).ok_or(RoomError::Ended)?;
        let out = action(room)?;
        self.dispatch(out);
        self.sync_media(&number, room);
        Ok(())
    }

    /// The participant leaves its meeting (on `leave`, disconnect or idle timeout).
    pub fn leave(&self, id: ParticipantId) {
        let who = self.who(id);
        if let Some(number) = self.take_meeting(id) {
            if self.mark_join_recorded(id, false) {
                let mut event = who;
                event.meeting_number = Some(number.clone());
                event.action = "participant.leave".to_owned();
                self.audit_trail().record(event);
            }
            let mut rooms = lock(&self.rooms);
            if let Some(room) = rooms.get_mut(&number) {
                let out = room.leave(id);
                self.dispatch(out);
                self.sync_media(&number, room);
                if room.is_empty() {
                    // The session is over: free the room (its bans are in the database).
                    rooms.remove(&number);
                    tracing::info!(meeting = %number, "meeting room closed");
                }
            }
        }
        self.sfu.remove(id);
    }

    /// Applies every room's time-based rules (auto-lock); called every second.
    pub fn tick(&self, now: Instant) {
        let mut rooms = lock(&self.rooms);
        for room in rooms.values_mut() {
            let out = room.tick(now);
            self.dispatch(out);
        }
        // Ended sessions are forgotten once their end is stored (memory stays flat).
        rooms.retain(|_, room| !(room.is_empty() && room.ended_before(now, ENDED_ROOM_GRACE)));
    }
}

/// A deny reason as the audit trail names it; a host's typed explanation stays out.
pub(super) fn reason_name(reason: &DenyReason) -> &'static str {
    match reason {
        DenyReason::DeniedByHost { .. } => "denied_by_host",
        DenyReason::SignInRequired => "sign_in_required",
        DenyReason::Locked => "locked",
        DenyReason::Expelled => "expelled",
        DenyReason::MeetingFull => "meeting_full",
        DenyReason::MeetingEnded => "meeting_ended",
    }
}
