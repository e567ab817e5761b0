//! The user's identity on a server: sign in with a fresh device key, restore the kept sign-in
//! at start, renew its token before it expires, and forget it (sign-out). The keychain holds
//! what is kept ([`super::secrets`]).

use conclave_core::client::TlsTrust;
use conclave_core::client::account;
use conclave_e2ee::group::{generate_signature_keys, signature_keys_to_bytes};

use super::join::SignedInIdentity;
use super::secrets::{self, SecretsError, StoredIdentity};
use super::session::{Account, Session, UiError};
use crate::fl;

/// Signs in over HTTPS with a fresh device key and keeps the result in the keychain.
pub async fn sign_in(
    server: String,
    trust: TlsTrust,
    username: String,
    password: String,
) -> Result<Session, UiError> {
    let signer = generate_signature_keys().map_err(|e| UiError::BadAnswer(e.to_string()))?;
    let policy = super::policy::current();
    policy.check_server(&server).map_err(UiError::Refused)?;
    let signed_in =
        account::sign_in(&server, &trust, &username, &password, signer.public()).await?;
    // A server certifying accounts with a key the organisation does not trust is not used:
    // nothing is kept and the user is told why.
    policy_accepts(&policy, &server, &signed_in.org_key)?;
    let signature_keys =
        signature_keys_to_bytes(&signer).map_err(|e| UiError::BadAnswer(e.to_string()))?;
    let identity = SignedInIdentity::from_sign_in(&signed_in, signature_keys);
    let stored = StoredIdentity::new(
        &server,
        &trust,
        &username,
        &signed_in.display_name,
        &identity,
    )?;
    // Without a keychain the sign-in is kept nowhere else (never on disk): it lasts for this
    // run only, and home says so.
    let not_kept = match secrets::blocking(move || stored.save()).await {
        Ok(()) => None,
        Err(SecretsError::Unavailable(detail)) => {
            tracing::warn!(%detail, "no keychain: the sign-in lasts for this run only");
            Some(detail)
        }
        Err(other) => return Err(other.into()),
    };
    Ok(Session {
        server,
        trust,
        display_name: signed_in.display_name,
        account: Some(Account { username, identity }),
        hosting_locally: false,
        not_kept,
    })
}

/// The organisation's policy accepts this server and the key that certifies its accounts.
pub fn policy_accepts(
    policy: &super::policy::AppPolicy,
    server: &str,
    org: &conclave_protocol::identity::OrgPublicKey,
) -> Result<(), UiError> {
    policy.check_server(server).map_err(UiError::Refused)?;
    policy.check_org_key(org).map_err(UiError::Refused)
}

/// The identity kept from an earlier sign-in, if any, its access token renewed if need be.
/// A kept sign-in the server no longer honours is forgotten: the user signs in again.
pub async fn restore() -> Result<Option<Session>, UiError> {
    let Some(stored) = secrets::blocking(StoredIdentity::load).await? else {
        return Ok(None);
    };
    let identity = stored.identity()?;
    // A sign-in kept from before the organisation's policy changed is not used against it.
    policy_accepts(
        &super::policy::current(),
        &stored.sign_in.server,
        &identity.org,
    )?;
    let session = Session {
        server: stored.sign_in.server.clone(),
        trust: stored.trust(),
        display_name: stored.sign_in.display_name.clone(),
        account: Some(Account {
            username: stored.username.clone(),
            identity,
        }),
        hosting_locally: false,
        not_kept: None,
    };
    match renew(session.clone()).await {
        Ok(session) => Ok(Some(session)),
        // Offline: keep the sign-in; the server decides once it is reachable.
        Err(UiError::Network(detail)) => {
            tracing::info!(%detail, "could not renew the kept sign-in now");
            Ok(Some(session))
        }
        Err(other) => Err(other),
    }
}

/// The session with an access token that is good for a while: when it has expired or is
/// about to, the refresh token buys new tokens (and a fresh certificate), kept in the
/// keychain at once since the old refresh token is spent. A sign-in without a refresh token,
/// or one the server refuses, is forgotten and [`UiError::SignInAgain`] returned.
pub async fn renew(mut session: Session) -> Result<Session, UiError> {
    let keep = !session.hosting_locally && session.not_kept.is_none();
    let Some(account) = session.account.as_mut() else {
        return Ok(session);
    };
    if !account.identity.needs_refresh(account::unix_now()) {
        return Ok(session);
    }
    let refreshed = match account.identity.refresh_token.as_deref() {
        Some(refresh_token) => account::refresh(&session.server, &session.trust, refresh_token)
            .await
            .map_err(UiError::from),
        None => Err(UiError::SignInAgain),
    };
    let refreshed = match refreshed {
        Ok(refreshed) => refreshed,
        Err(UiError::SignInAgain) => {
            if keep && let Err(e) = secrets::blocking(StoredIdentity::delete).await {
                tracing::warn!(error = %e, "could not forget the expired sign-in");
            }
            return Err(UiError::SignInAgain);
        }
        Err(other) => return Err(other),
    };
    account.identity.renew(refreshed);
    let identity = &account.identity;
    if keep {
        let stored = StoredIdentity::new(
            &session.server,
            &session.trust,
            &account.username,
            &session.display_name,
            identity,
        )?;
        secrets::blocking(move || stored.save()).await?;
    }
    tracing::info!("sign-in renewed");
    Ok(session)
}

/// Sign-out: the server revokes the sign-in (best effort, bounded in time) and the token and
/// device key leave the keychain whatever the server said. `Ok(Some(detail))` when the
/// server could not be told.
pub async fn forget(session: Option<Session>) -> Result<Option<String>, UiError> {
    let revoked = match &session {
        Some(session) => revoke_on_server(session).await,
        None => None,
    };
    secrets::blocking(StoredIdentity::delete).await?;
    Ok(revoked)
}

/// Asks the server to revoke the session's sign-in; `Some(why)` when it could not be told.
pub async fn revoke_on_server(session: &Session) -> Option<String> {
    let account = session.account.as_ref()?;
    let call = account::sign_out(
        &session.server,
        &session.trust,
        &account.identity.token,
        account.identity.refresh_token.as_deref(),
    );
    match tokio::time::timeout(SIGN_OUT_TIMEOUT, call).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(UiError::from(e).text()),
        Err(_) => Some(fl!("common-error-network", detail = "timeout")),
    }
}

/// How long sign-out waits for the server before forgetting locally anyway.
const SIGN_OUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::{HostOptions, host_on_this_computer};

    async fn hosted_session(dir: &std::path::Path) -> (crate::embedded::Hosted, Session) {
        crate::service::secrets::use_mock_store();
        let hosted = host_on_this_computer(HostOptions {
            data_dir: dir.to_path_buf(),
            lan: false,
            port: 0,
            username: None,
            display_name: "Hana".into(),
        })
        .await
        .expect("hosting starts");
        let session = Session {
            server: hosted.address.clone(),
            trust: hosted.trust(),
            display_name: hosted.display_name.clone(),
            account: Some(Account {
                username: hosted.username.clone(),
                identity: hosted.identity.clone(),
            }),
            // Keeps the test away from the keychain.
            hosting_locally: true,
            not_kept: None,
        };
        (hosted, session)
    }

    #[tokio::test]
    async fn a_server_whose_organisation_key_is_not_the_trusted_one_is_refused() {
        use conclave_policy::{Level, Policy, RawValue};
        let dir = tempfile::tempdir().expect("temp dir");
        let (hosted, session) = hosted_session(dir.path()).await;
        let language = crate::test_language(crate::i18n::Language::English);
        let served = hosted.identity.org;
        let pin = |fingerprint: String| {
            let mut policy = Policy::none();
            policy.add(
                Level::Enforced,
                "t",
                "OrgKeyFingerprint",
                &RawValue::Text(fingerprint),
            );
            crate::service::policy::AppPolicy::new(policy)
        };
        let trusted = pin(served.fingerprint());
        assert!(policy_accepts(&trusted, &session.server, &served).is_ok());
        let elsewhere = conclave_protocol::identity::OrgSigningKey::generate();
        let other = pin(elsewhere.public().fingerprint());
        match policy_accepts(&other, &session.server, &served) {
            Err(UiError::Refused(message)) => assert!(message.contains(&served.fingerprint())),
            unexpected => panic!("not refused: {unexpected:?}"),
        }
        drop(language);
        hosted.shutdown().await;
    }

    async fn token_works(session: &Session) -> bool {
        let scheduler = conclave_core::client::schedule_api::Scheduler::new(
            &session.server,
            &session.trust,
            session.token().expect("signed in"),
        )
        .expect("client");
        scheduler.list().await.is_ok()
    }

    #[tokio::test]
    async fn an_expiring_token_is_renewed_and_the_old_one_stops_working() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (hosted, mut session) = hosted_session(dir.path()).await;
        let old = session.clone();
        // A fresh token is left alone.
        let same = renew(session.clone()).await.expect("no renewal needed");
        assert_eq!(same.token(), session.token());
        // One about to expire is renewed.
        if let Some(account) = session.account.as_mut() {
            account.identity.expires_at = account::unix_now() + 30;
        }
        let renewed = renew(session).await.expect("renewed");
        assert_ne!(renewed.token(), old.token());
        assert!(token_works(&renewed).await);
        assert!(!token_works(&old).await);
        hosted.shutdown().await;
    }

    #[tokio::test]
    async fn a_sign_in_without_a_refresh_token_asks_to_sign_in_again_when_it_expires() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (hosted, mut session) = hosted_session(dir.path()).await;
        if let Some(account) = session.account.as_mut() {
            account.identity.expires_at = 1;
            account.identity.refresh_token = None;
        }
        assert!(matches!(renew(session).await, Err(UiError::SignInAgain)));
        hosted.shutdown().await;
    }

    #[tokio::test]
    async fn sign_out_revokes_on_the_server_and_says_when_it_cannot() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (hosted, session) = hosted_session(dir.path()).await;
        assert!(token_works(&session).await);
        assert_eq!(revoke_on_server(&session).await, None);
        assert!(!token_works(&session).await);
        // The session cannot be renewed back either.
        let mut expired = session.clone();
        if let Some(account) = expired.account.as_mut() {
            account.identity.expires_at = 1;
        }
        assert!(matches!(renew(expired).await, Err(UiError::SignInAgain)));
        hosted.shutdown().await;
        // With the server gone, sign-out says the server was not told.
        assert!(revoke_on_server(&session).await.is_some());
    }
}
