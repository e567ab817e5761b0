//! A [`Room`] as the MLS delivery service: Add batches for the committer, the ordering of
//! commits (the server's leaf map follows from them), its own Remove proposals for departed
//! members, and the relay of a member's own leave or update.

use super::*;

impl Room {
    /// Sends the committer every admitted-but-not-added KeyPackage as one batch, unless a
    /// batch is already waiting for its commit.
    pub fn flush_adds(&mut self) -> Vec<Outgoing> {
        let Some(committer) = self.committer else {
            return Vec::new();
        };
        if !self.adds_in_flight.is_empty() {
            return Vec::new();
        }
        let requests: Vec<AddRequest> = self
            .participants
            .iter()
            .filter_map(|(id, p)| match &p.status {
                Status::AwaitingAdd {
                    key_package,
                    admission,
                } => Some(AddRequest {
                    participant: *id,
                    key_package: key_package.clone(),
                    role: p.role,
                    admission: admission.clone(),
                }),
                _ => None,
            })
            .collect();
        if requests.is_empty() {
            return Vec::new();
        }
        self.adds_in_flight = requests.iter().map(|r| r.participant).collect();
        vec![Self::send(
            committer,
            ServerMessage::AddMembers {
                epoch: self.epoch,
                requests,
            },
        )]
    }

    /// A commit arrives. The first valid commit for the current epoch wins; anything else is
    /// rejected so its author rebases. Only the committer may add members, and it may only
    /// remove members who left. `added` must list the added participants in the order of the
    /// commit's Add proposals and `removed` every departed participant whose leaf the commit
    /// removes (by value or by reference): the server's leaf map follows from them.
    pub fn commit(
        &mut self,
        from: ParticipantId,
        epoch: u64,
        commit: MlsBlob,
        welcome: Option<MlsBlob>,
        added: &[ParticipantId],
        removed: &[ParticipantId],
    ) -> Vec<Outgoing> {
        let reject = |reason: &str, current_epoch| {
            vec![Self::send(
                from,
                ServerMessage::CommitRejected {
                    epoch,
                    current_epoch,
                    reason: Reason::truncated(reason),
                },
            )]
        };
        if self.ended || self.participants.get(&from).map(|p| &p.status) != Some(&Status::Member) {
            return reject("not a member of this meeting", self.epoch);
        }
        if Some(from) != self.committer {
            return reject("only the meeting's committer may commit", self.epoch);
        }
        if epoch != self.epoch {
            return reject("another commit already took this epoch; rebase", self.epoch);
        }
        let all_awaiting = added.iter().all(|id| {
            matches!(
                self.participants.get(id).map(|p| &p.status),
                Some(Status::AwaitingAdd { .. })
            )
        });
        if !all_awaiting {
            return reject("the commit adds someone who was not admitted", self.epoch);
        }
        if added.is_empty() != welcome.is_none() {
            return reject(
                "a Welcome must accompany exactly the commits that add",
                self.epoch,
            );
        }
        if !removed.iter().all(|id| self.departed.contains_key(id)) {
            return reject("the commit removes someone who has not left", self.epoch);
        }

        self.epoch += 1;
        for id in removed {
            self.departed.remove(id);
        }
        let mut occupied = self.occupied_leaves();
        for id in added {
            let leaf = (0u32..).find(|l| !occupied.contains(l)).unwrap_or(u32::MAX);
            occupied.insert(leaf);
            if let Some(p) = self.participants.get_mut(id) {
                p.leaf = Some(leaf);
                if welcome.is_some() {
                    p.status = Status::Member;
                }
            }
        }
        // The roster goes before the commit: a member who merges the commit finds every new
        // leaf already announced (a leaf the roster lacks is shown as a warning).
        let mut out = self.hand_over_to_host(added);
        out.extend(self.meeting_update());
        // The commit is for those already in the group; the added get the Welcome.
        let commit = ServerMessage::MlsCommit {
            epoch,
            commit,
            from,
        };
        out.extend(
            self.to_members(&commit, Some(from))
                .into_iter()
                .filter(|o| !added.contains(&o.to)),
        );
        out.push(Self::send(from, ServerMessage::CommitAccepted { epoch }));
        if let Some(welcome) = welcome {
            for id in added {
                out.push(Self::send(
                    *id,
                    ServerMessage::MlsWelcome {
                        welcome: welcome.clone(),
                    },
                ));
            }
        }
        // A new epoch voids any batch still in flight: whoever is still waiting (admitted
        // meanwhile, or left out) goes into the next batch, made from this epoch. Removals
        // this commit did not include are proposed again for the new epoch, before the add
        // batch so the committer can include them in it.
        self.adds_in_flight.clear();
        let pending = self.pending_removals();
        out.extend(self.propose_removals(&pending));
        out.extend(self.flush_adds());
        out.extend(self.ask_committer_to_remove(pending));
        out
    }

    /// The host just joined the group: it becomes the committer, and a member that committed
    /// as acting co-host before it goes back to its own role.
    fn hand_over_to_host(&mut self, added: &[ParticipantId]) -> Vec<Outgoing> {
        let Some(host) = added.iter().copied().find(|id| {
            self.participants
                .get(id)
                .is_some_and(|p| p.role == Role::Host)
        }) else {
            return Vec::new();
        };
        self.committer = Some(host);
        let mut out = Vec::new();
        if let Some(acting) = self.acting_co_host.take()
            && let Some(p) = self.participants.get_mut(&acting)
        {
            p.role = if p.user_id.is_some() {
                Role::Participant
            } else {
                Role::Guest
            };
            let role = p.role;
            out.extend(self.to_members(
                &ServerMessage::RoleChanged {
                    participant: acting,
                    role,
                },
                None,
            ));
        }
        out
    }

    /// The server's Remove proposals (as the group's external sender) for these departed
    /// members, to every member.
    pub(super) fn propose_removals(&self, ids: &[ParticipantId]) -> Vec<Outgoing> {
        let Some(group_id) = &self.group_id else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for id in ids {
            let Some(leaf) = self.departed.get(id) else {
                continue;
            };
            match self.delivery.propose_remove(group_id, self.epoch, *leaf) {
                Ok(proposal) => out.extend(self.to_members(
                    &ServerMessage::MlsProposal {
                        epoch: self.epoch,
                        proposal: MlsBlob::new(proposal),
                    },
                    None,
                )),
                // The committer still gets `remove_members` and removes the leaf by value.
                Err(e) => {
                    tracing::warn!(participant = %id, error = %e, "could not build a Remove proposal")
                }
            }
        }
        out
    }

    /// Tells the committer to commit these removals (the pending proposals by reference).
    pub(super) fn ask_committer_to_remove(
        &self,
        participants: Vec<ParticipantId>,
    ) -> Vec<Outgoing> {
        match self.committer {
            Some(committer) if !participants.is_empty() => vec![Self::send(
                committer,
                ServerMessage::RemoveMembers {
                    epoch: self.epoch,
                    participants,
                },
            )],
            _ => Vec::new(),
        }
    }

    /// A member's MLS proposal, relayed to the other members. Only a member's own leave
    /// (Remove of its own leaf) or Update is relayed: anything else would ride along in the
    /// committer's next commit (members refuse it too; this keeps it off the wire).
    pub fn relay_proposal(
        &self,
        from: ParticipantId,
        epoch: u64,
        proposal: MlsBlob,
    ) -> Result<Vec<Outgoing>, RoomError> {
        let Some(sender) = self
            .participants
            .get(&from)
            .filter(|p| p.status == Status::Member)
        else {
            return Err(RoomError::NotAllowed);
        };
        if epoch != self.epoch {
            return Err(RoomError::StaleEpoch);
        }
        let summary = peek_proposal(proposal.as_bytes())
            .map_err(|_| RoomError::BadProposal("not an MLS proposal"))?;
        if summary.epoch != epoch
            || summary.sender_leaf.is_none()
            || summary.sender_leaf != sender.leaf
        {
            return Err(RoomError::BadProposal(
                "a proposal must come from the sender's own leaf, in the current epoch",
            ));
        }
        match summary.kind {
            ProposalKind::Update => {}
            ProposalKind::Remove { leaf } if Some(leaf) == sender.leaf => {}
            _ => {
                return Err(RoomError::BadProposal(
                    "only a member's own leave or update is relayed",
                ));
            }
        }
        Ok(self.to_members(&ServerMessage::MlsProposal { epoch, proposal }, Some(from)))
    }

    /// The committer did not add these admitted participants (no host's signed admission
    /// while the meeting is guarded, or a guest where sign-in is required): they go back to
    /// the lobby, where a host can admit them with a signature.
    pub fn return_to_lobby(
        &mut self,
        from: ParticipantId,
        ids: &[ParticipantId],
    ) -> Result<Vec<Outgoing>, RoomError> {
        if Some(from) != self.committer {
            return Err(RoomError::NotAllowed);
        }
        let mut out = Vec::new();
        for id in ids {
            let Some(p) = self.participants.get_mut(id) else {
                continue;
            };
            let Status::AwaitingAdd { key_package, .. } = &p.status else {
                continue;
            };
            p.status = Status::Lobby {
                key_package: key_package.clone(),
            };
            self.adds_in_flight.remove(id);
            out.push(Self::send(*id, ServerMessage::InLobby { participant: *id }));
        }
        out.extend(self.to_moderators(&ServerMessage::Lobby {
            entries: self.lobby(),
        }));
        Ok(out)
    }
}
