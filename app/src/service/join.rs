//! What the shell hands the meeting screens when the user asks to join: where the server is,
//! how to trust it, which meeting, and who is joining.

use conclave_core::client::TlsTrust;
use conclave_e2ee::group::{GroupError, GroupMember, signature_keys_from_bytes};
use conclave_protocol::identity::{CredentialPayload, MemberCertificate, OrgPublicKey};
use conclave_protocol::{DisplayName, MeetingNumber, MeetingPassword};

/// A signed-in user's identity for the join: their bearer token and certified MLS credential.
#[derive(Clone)]
pub struct SignedInIdentity {
    /// Bearer token for the WebSocket upgrade (never logged: `Debug` redacts it).
    pub token: String,
    /// Unix seconds after which `token` is refused; 0 when unknown (older kept sign-ins).
    pub expires_at: i64,
    /// Single-use token that renews `token` (secret: `Debug` redacts it); `None` for sign-ins
    /// kept before refresh tokens, which sign in again when their token expires.
    pub refresh_token: Option<String>,
    /// The device's MLS signature key pair, serialized (secret: `Debug` redacts it).
    pub signature_keys: Vec<u8>,
    /// The organization's certificate for this user's signature key.
    pub certificate: MemberCertificate,
    /// The organization key that certifies signed-in members, to verify the others.
    pub org: OrgPublicKey,
}

impl SignedInIdentity {
    /// The MLS member carrying the certified credential.
    pub fn member(&self) -> Result<GroupMember, GroupError> {
        let signer = signature_keys_from_bytes(&self.signature_keys)?;
        GroupMember::new(signer, &CredentialPayload::user(self.certificate.clone()))
    }
}

impl std::fmt::Debug for SignedInIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedInIdentity")
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Everything needed to connect and join one meeting.
#[derive(Clone)]
pub struct JoinRequest {
    /// `host:port` of the meeting server.
    pub server: String,
    /// How to trust the server's certificate.
    pub trust: TlsTrust,
    pub meeting: MeetingNumber,
    /// `None` for meetings without a password (or signed-in users exempt from it).
    pub password: Option<MeetingPassword>,
    pub display_name: DisplayName,
    /// `None` joins as a guest (shown to others as unverified).
    pub identity: Option<SignedInIdentity>,
}

impl std::fmt::Debug for JoinRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinRequest")
            .field("server", &self.server)
            .field("meeting", &self.meeting)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("display_name", &self.display_name)
            .field("identity", &self.identity)
            .finish()
    }
}
