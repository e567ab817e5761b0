//! The server's external-sender key (RFC 9420 §12.1.8.1): the one identity besides members that
//! may propose, and only removals of people who left.

use super::*;

/// The delivery service's identity inside groups: it may propose Remove (for members whose
/// connection dropped) but, holding no leaf, can never commit or add anyone.
pub struct ExternalSenderKey {
    signer: SignatureKeyPair,
    credential: Credential,
}

impl std::fmt::Debug for ExternalSenderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The public half only; the private key never appears in logs.
        f.debug_struct("ExternalSenderKey")
            .field("public_key", &hex_prefix(self.signer.public()))
            .finish_non_exhaustive()
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Decodes an [`ExternalSender`] (TLS-serialized, as `admitted.external_sender` carries it).
pub fn external_sender_from_bytes(bytes: &[u8]) -> Result<ExternalSender, GroupError> {
    ExternalSender::tls_deserialize_exact(bytes).map_err(|e| GroupError::Decode(e.to_string()))
}

impl ExternalSenderKey {
    /// A new external-sender identity named `name` (e.g. the server's host name).
    pub fn generate(name: &str) -> Result<Self, GroupError> {
        Ok(Self {
            signer: generate_signature_keys()?,
            credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
        })
    }

    /// The entry a host puts into the group's external-senders extension.
    pub fn external_sender(&self) -> ExternalSender {
        ExternalSender::new(self.signer.public().into(), self.credential.clone())
    }

    /// The TLS-serialized [`ExternalSender`] (public key and credential) the server announces
    /// in `admitted`; read it back with [`external_sender_from_bytes`].
    pub fn external_sender_bytes(&self) -> Result<Vec<u8>, GroupError> {
        self.external_sender()
            .tls_serialize_detached()
            .map_err(mls("encode"))
    }

    /// Raw public key, which a client can compare with what the server announces.
    pub fn public_key(&self) -> &[u8] {
        self.signer.public()
    }

    /// A Remove proposal for `leaf_index`, valid in `epoch` of `group_id`.
    pub fn propose_remove(
        &self,
        group_id: &[u8],
        epoch: u64,
        leaf_index: u32,
    ) -> Result<Vec<u8>, GroupError> {
        let message = ExternalProposal::new_remove::<OpenMlsRustCrypto>(
            LeafNodeIndex::new(leaf_index),
            GroupId::from_slice(group_id),
            GroupEpoch::from(epoch),
            &self.signer,
            SenderExtensionIndex::new(0),
        )
        .map_err(mls("external remove"))?;
        message.tls_serialize_detached().map_err(mls("encode"))
    }
}
