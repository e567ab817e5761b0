//! Shared by the app's integration tests: a host account on the in-process test server and
//! the app's sign-in for it, as the sign-in screen would have made it.

use conclave_app::service::join::SignedInIdentity;
use conclave_core::client::account::sign_in;
use conclave_e2ee::group::{generate_signature_keys, signature_keys_to_bytes};
use conclave_tests::TestServer;

/// Creates the account "hana" (Hana Host) and signs it in with a fresh device key.
pub async fn signed_in_host(server: &TestServer) -> SignedInIdentity {
    server
        .add_user("hana", "Hana Host", "correct horse battery")
        .await;
    let keys = generate_signature_keys().expect("keys");
    let account = sign_in(
        &server.address(),
        &server.trust(),
        "hana",
        "correct horse battery",
        keys.public(),
    )
    .await
    .expect("sign in");
    SignedInIdentity {
        token: account.token,
        expires_at: account.expires_at,
        refresh_token: account.refresh_token,
        signature_keys: signature_keys_to_bytes(&keys).expect("key bytes"),
        certificate: account.certificate,
        org: account.org_key,
    }
}
