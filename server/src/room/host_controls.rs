//! Host and co-host controls of a [`Room`]: admit, deny, expel, lock, auto-lock, lobby,
//! sign-in requirement, co-hosts and ending the meeting. The host can be neither expelled nor
//! demoted, and only the host ends a meeting; expulsions and denials ban for the meeting's life
//! and keep the lobby on for the rest of the session.

use super::*;

impl Room {
    fn require_moderator(&self, actor: ParticipantId) -> Result<(), RoomError> {
        if self.ended {
            return Err(RoomError::Ended);
        }
        if self.is_moderator(actor) {
            Ok(())
        } else {
            Err(RoomError::NotAllowed)
        }
    }

    /// Host: lets one lobby entry in. `signature` is the host's signed admission, relayed to
    /// the committer (which adds nobody to a guarded meeting without one).
    pub fn admit(
        &mut self,
        actor: ParticipantId,
        id: ParticipantId,
        signature: Option<MlsBlob>,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(actor)?;
        if !matches!(
            self.participants.get(&id).map(|p| &p.status),
            Some(Status::Lobby { .. })
        ) {
            return Err(RoomError::NoSuchParticipant);
        }
        let admission = signature.and_then(|signature| {
            self.participants.get(&actor).map(|host| Admission {
                admitter_key: MlsBlob::new(host.signature_key.clone()),
                signature,
            })
        });
        let mut out = self.admit_one(id, admission);
        out.extend(self.to_moderators(&ServerMessage::Lobby {
            entries: self.lobby(),
        }));
        Ok(out)
    }

    /// Host: lets the whole lobby in, as one batch.
    pub fn admit_all(&mut self, actor: ParticipantId) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(actor)?;
        let waiting: Vec<ParticipantId> = self.lobby().iter().map(|e| e.participant).collect();
        let mut out = Vec::new();
        for id in waiting {
            out.extend(self.admit_one(id, None));
        }
        out.extend(self.to_moderators(&ServerMessage::Lobby {
            entries: self.lobby(),
        }));
        Ok(out)
    }

    /// Host: refuses a lobby entry; they stay out for the meeting's life.
    pub fn deny(
        &mut self,
        actor: ParticipantId,
        id: ParticipantId,
        reason: Option<Reason>,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(actor)?;
        if !matches!(
            self.participants.get(&id).map(|p| &p.status),
            Some(Status::Lobby { .. })
        ) {
            return Err(RoomError::NoSuchParticipant);
        }
        self.ban(id);
        let mut out = vec![Self::send_and_close(
            id,
            ServerMessage::Denied {
                reason: DenyReason::DeniedByHost { reason },
            },
        )];
        self.participants.remove(&id);
        out.extend(self.to_moderators(&ServerMessage::Lobby {
            entries: self.lobby(),
        }));
        out.extend(self.force_lobby());
        Ok(out)
    }

    /// Keeps them out by device key and account, for the meeting's life (the hub stores the
    /// bans). A guest comes back with a fresh key, so after any expulsion or denial the lobby
    /// also stays on for the rest of the session ([`Self::force_lobby`]).
    fn ban(&mut self, id: ParticipantId) {
        let Some(p) = self.participants.get(&id) else {
            return;
        };
        let mut bans = vec![Ban::Device(p.signature_key.clone())];
        if let Some(user) = &p.user_id {
            bans.push(Ban::Account(user.clone()));
        }
        for ban in bans {
            if self.bans.insert(ban.clone()) {
                self.new_bans.push(ban);
            }
        }
    }

    /// Turns the lobby on for the rest of the session, telling members (hosts see why).
    fn force_lobby(&mut self) -> Vec<Outgoing> {
        if self.lobby_forced {
            return Vec::new();
        }
        self.lobby_forced = true;
        self.to_members(
            &ServerMessage::MeetingUpdate {
                meeting: self.state(),
            },
            None,
        )
    }

    /// Host: removes a participant now and keeps them out (by account and device key).
    pub fn expel(
        &mut self,
        actor: ParticipantId,
        id: ParticipantId,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(actor)?;
        let Some(target) = self.participants.get(&id) else {
            return Err(RoomError::NoSuchParticipant);
        };
        if id == actor {
            return Err(RoomError::NoSuchParticipant);
        }
        if target.role == Role::Host {
            return Err(RoomError::TargetIsHost);
        }
        self.ban(id);
        let mut out = vec![Self::send_and_close(
            id,
            ServerMessage::Expelled { reason: None },
        )];
        out.extend(self.remove(id));
        out.extend(self.force_lobby());
        Ok(out)
    }

    /// Host: expels every participant who is not signed in.
    pub fn expel_unverified(&mut self, actor: ParticipantId) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(actor)?;
        let guests: Vec<ParticipantId> = self
            .participants
            .iter()
            .filter(|(id, p)| **id != actor && p.user_id.is_none() && p.role != Role::Host)
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for id in guests {
            out.extend(self.expel(actor, id)?);
        }
        Ok(out)
    }

    /// Host settings: lock, auto-lock, lobby, sign-in requirement.
    pub fn set_locked(
        &mut self,
        actor: ParticipantId,
        locked: bool,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(actor)?;
        self.locked = locked;
        Ok(self.meeting_update())
    }

    /// Host: auto-lock `minutes` from now (None switches it off).
    pub fn set_auto_lock(
        &mut self,
        actor: ParticipantId,
        minutes: Option<u32>,
        now: Instant,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(actor)?;
        self.options.auto_lock_minutes = minutes;
        self.auto_lock_at = minutes.map(|m| now + Duration::from_secs(u64::from(m) * 60));
        Ok(self.meeting_update())
    }

    /// Host: send every newcomer to the lobby (or not).
    pub fn set_lobby(
        &mut self,
        actor: ParticipantId,
        enabled: bool,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(actor)?;
        self.options.lobby_enabled = enabled;
        Ok(self.meeting_update())
    }

    /// Host: refuse guests from now on (present guests stay until expelled).
    pub fn set_require_sign_in(
        &mut self,
        actor: ParticipantId,
        required: bool,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(actor)?;
        self.options.require_sign_in = required;
        Ok(self.meeting_update())
    }

    /// Host: make someone a co-host (they see the lobby and may use host controls).
    pub fn assign_co_host(
        &mut self,
        actor: ParticipantId,
        id: ParticipantId,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(actor)?;
        let Some(p) = self
            .participants
            .get_mut(&id)
            .filter(|p| p.status == Status::Member)
        else {
            return Err(RoomError::NoSuchParticipant);
        };
        if p.role == Role::Host {
            return Err(RoomError::TargetIsHost);
        }
        p.role = Role::CoHost;
        let mut out = self.to_members(
            &ServerMessage::RoleChanged {
                participant: id,
                role: Role::CoHost,
            },
            None,
        );
        out.push(Self::send(
            id,
            ServerMessage::Lobby {
                entries: self.lobby(),
            },
        ));
        Ok(out)
    }

    /// Host: end the meeting for everyone. Only the host: a co-host could otherwise end an
    /// instant meeting for good.
    pub fn end(&mut self, actor: ParticipantId) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(actor)?;
        if self.participants.get(&actor).map(|p| p.role) != Some(Role::Host) {
            return Err(RoomError::HostOnly);
        }
        self.ended_at = Some(Instant::now());
        self.ended = true;
        let out = self
            .participants
            .keys()
            .map(|id| {
                Self::send_and_close(
                    *id,
                    ServerMessage::MeetingEnded {
                        reason: EndReason::EndedByHost,
                    },
                )
            })
            .collect();
        self.participants.clear();
        Ok(out)
    }
}
