//! What the shell hands the meeting screens when the user asks to join: where the server is,
//! how to trust it, which meeting, and who is joining; and the connection that asks to join.

use conclave_core::client::account::fetch_org_key;
use conclave_core::client::{ConnectError, ConnectOptions, MeetingClient, TlsTrust};
use conclave_e2ee::group::GroupMember;
use conclave_protocol::{DisplayName, MeetingNumber, MeetingPassword};

use super::session::Session;

/// A signed-in user's identity for the join (defined in core, shared with the CLI).
pub use conclave_core::client::SignedInIdentity;

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

/// Why a join form can't be sent yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormProblem {
    Number,
    Password,
    Name,
}

impl JoinRequest {
    /// The request for what the user typed, on `session`'s server as `session`'s user: the
    /// number may carry spaces or dashes, and an empty password means none.
    pub fn from_typed(
        session: &Session,
        number: &str,
        password: &str,
        display_name: &str,
    ) -> Result<Self, FormProblem> {
        let meeting = MeetingNumber::parse(&number.replace([' ', '-'], ""))
            .map_err(|_| FormProblem::Number)?;
        let password = if password.is_empty() {
            None
        } else {
            Some(MeetingPassword::new(password.to_owned()).map_err(|_| FormProblem::Password)?)
        };
        let display_name = DisplayName::new(display_name.trim()).map_err(|_| FormProblem::Name)?;
        Ok(JoinRequest {
            server: session.server.clone(),
            trust: session.trust.clone(),
            meeting,
            password,
            display_name,
            identity: session.account.as_ref().map(|a| a.identity.clone()),
        })
    }
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

/// Why the link could not be set up or broke, in words the screens translate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// TCP/TLS/WebSocket failure (or a refused certificate).
    Connect(String),
    /// The sign-in token was refused.
    Unauthorized,
    /// The local MLS identity could not be created.
    Identity(String),
    /// The organisation's policy refuses this server (the message says why, translated).
    Policy(String),
    /// The server requires a newer Conclave.
    UpdateRequired {
        minimum: String,
        url: Option<String>,
    },
}

/// Refuses an organisation key the policy does not trust (and no key at all when it pins one).
fn check_org_key(
    policy: &super::policy::AppPolicy,
    org: Option<&conclave_protocol::identity::OrgPublicKey>,
) -> Result<(), LinkError> {
    match org {
        Some(key) => policy.check_org_key(key).map_err(LinkError::Policy),
        None if policy.org_key_pinned() => {
            Err(LinkError::Policy(crate::fl!("policy-org-key-missing")))
        }
        None => Ok(()),
    }
}

/// This device's MLS member: the certified credential when signed in, a guest's otherwise.
fn member_for(request: &JoinRequest) -> Result<GroupMember, LinkError> {
    let member = match &request.identity {
        Some(identity) => identity.member(),
        None => GroupMember::guest(request.display_name.as_str()),
    };
    member.map_err(|e| LinkError::Identity(e.to_string()))
}

/// Connects to the request's server as this device's member and asks to join its meeting.
pub async fn connect_and_join(request: &JoinRequest) -> Result<MeetingClient, LinkError> {
    let member = member_for(request)?;
    let policy = super::policy::current();
    policy
        .check_server(&request.server)
        .map_err(LinkError::Policy)?;
    // Guests verify signed-in members with the organization key; without it everyone shows
    // as not verifiable, which is safe (never wrongly "verified"). With a key trusted by
    // policy, a server that offers another one (or none) is not used at all.
    let org = match &request.identity {
        Some(identity) => Some(identity.org),
        None => match fetch_org_key(&request.server, &request.trust).await {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::warn!(%error, "cannot fetch the organization key");
                None
            }
        },
    };
    check_org_key(&policy, org.as_ref())?;
    let options = ConnectOptions {
        server: request.server.clone(),
        trust: request.trust.clone(),
        token: request.identity.as_ref().map(|i| i.token.clone()),
    };
    let client = MeetingClient::connect(options, member, org)
        .await
        .map_err(|e| match e {
            ConnectError::Unauthorized => LinkError::Unauthorized,
            ConnectError::UpdateRequired {
                minimum,
                download_url,
                ..
            } => LinkError::UpdateRequired {
                minimum,
                url: download_url,
            },
            other => LinkError::Connect(other.to_string()),
        })?;
    client.join(
        request.meeting.clone(),
        request.password.clone(),
        request.display_name.clone(),
    );
    Ok(client)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pinned_organisation_key_refuses_a_server_that_shows_another_or_none() {
        use conclave_policy::{Level, Policy, RawValue};
        let _language = crate::test_language(crate::i18n::Language::English);
        let trusted = conclave_protocol::identity::OrgSigningKey::generate();
        let other = conclave_protocol::identity::OrgSigningKey::generate();
        let mut policy = Policy::none();
        let fingerprint = RawValue::Text(trusted.public().fingerprint());
        policy.add(Level::Enforced, "t", "OrgKeyFingerprint", &fingerprint);
        let pinned = crate::service::policy::AppPolicy::new(policy);
        assert!(check_org_key(&pinned, Some(&trusted.public())).is_ok());
        assert!(matches!(
            check_org_key(&pinned, Some(&other.public())),
            Err(LinkError::Policy(_))
        ));
        assert!(matches!(
            check_org_key(&pinned, None),
            Err(LinkError::Policy(_))
        ));
        let open = crate::service::policy::AppPolicy::none();
        assert!(check_org_key(&open, None).is_ok());
    }

    use super::*;

    #[test]
    fn a_typed_join_form_becomes_a_request_or_names_the_wrong_field() {
        let session = Session::test_guest();
        let request =
            JoinRequest::from_typed(&session, "123-456 789", "", " Aiko ").expect("a valid form");
        assert_eq!(
            request.meeting,
            MeetingNumber::parse("123456789").expect("number")
        );
        assert!(request.password.is_none(), "an empty password is none");
        assert_eq!(request.display_name.as_str(), "Aiko");
        assert_eq!(request.server, session.server);
        assert!(request.identity.is_none(), "a guest joins as a guest");
        let problem = |number, name| JoinRequest::from_typed(&session, number, "", name).err();
        assert_eq!(problem("12", "Aiko"), Some(FormProblem::Number));
        assert_eq!(problem("123456789", "  "), Some(FormProblem::Name));
    }
}
