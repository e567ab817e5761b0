//! SFrame media keys from the MLS group (RFC 9605 §5.2).
//!
//! Once per epoch every member exports `base_key = MLS-Exporter("SFrame 1.0 Base Key", "",
//! AEAD.Nk)`. Each sender's key id is `KID = (context << (S+E)) | (leaf_index << E) |
//! (epoch mod 2^E)`; the per-KID key and salt come from HKDF inside the `sframe` crate. A sender
//! switches to the new epoch's key as soon as it merges a commit; receivers keep the previous
//! epoch for a short grace window so frames already in flight still play.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use sframe::CipherSuite;
use sframe::error::SframeError;
use sframe::frame::validation::{ReplayAttackProtection, ReplayAttackProtectionError, Tolerance};
use sframe::frame::{EncryptedFrameView, MediaFrameView, MonotonicCounter};
use sframe::header::KeyId;
use sframe::key::{DecryptionKey, EncryptionKey};
use sframe::mls::{MlsKeyId, MlsKeyIdBitRange};

/// SFrame cipher suite matching MLS ciphersuite 0x0001 (AES-128-GCM, SHA-256): its Nk is the
/// 16 bytes exported per epoch.
pub const SFRAME_SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;
/// The exporter label RFC 9605 §5.2 fixes.
pub const SFRAME_EXPORTER_LABEL: &str = "SFrame 1.0 Base Key";

/// Tunables of the media key schedule.
#[derive(Debug, Clone, Copy)]
pub struct MediaKeyConfig {
    /// E: low epoch bits carried in the KID; 2^E epochs can be told apart.
    pub epoch_bits: u8,
    /// S: leaf-index bits; 12 bits cover 4,096 leaves (the meeting cap is 1,000 members).
    pub index_bits: u8,
    /// How long a receiver still accepts the previous epoch after installing a new one.
    pub grace: Duration,
    /// Replay window per sender key, in frames; wide enough for video reordering.
    pub replay_window: usize,
}

impl Default for MediaKeyConfig {
    fn default() -> Self {
        Self {
            epoch_bits: 4,
            index_bits: 12,
            grace: Duration::from_secs(2),
            replay_window: 256,
        }
    }
}

impl MediaKeyConfig {
    fn bit_range(&self) -> Result<MlsKeyIdBitRange, MediaError> {
        MlsKeyIdBitRange::try_new(self.epoch_bits, self.index_bits)
            .map_err(|e| MediaError::Config(e.to_string()))
    }

    fn key_id(
        &self,
        stream: MediaStream,
        epoch: u64,
        leaf_index: u32,
    ) -> Result<MlsKeyId, MediaError> {
        MlsKeyId::try_new(stream.context(), epoch, leaf_index, self.bit_range()?)
            .map_err(|_| MediaError::LeafIndexTooLarge { leaf_index })
    }
}

/// Which of a member's media streams a key belongs to: RFC 9605 §5.2's KID context. Audio and
/// video of one member each count frames from zero, so they must not share a key and salt
/// (AES-GCM nonces would repeat); a distinct context gives each stream its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaStream {
    Audio,
    Video,
}

impl MediaStream {
    fn context(self) -> u64 {
        match self {
            Self::Audio => 0,
            Self::Video => 1,
        }
    }
}

/// Why a frame could not be encrypted or was rejected on receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("the SFrame header could not be parsed (truncated or malformed frame)")]
    Malformed,
    #[error("no key for this frame's epoch: it is newer than ours or long gone")]
    UnknownEpoch { epoch_bits: u64 },
    #[error("the frame belongs to epoch {epoch}, whose grace window has ended")]
    StaleEpoch { epoch: u64 },
    #[error("leaf {leaf_index} is not a member of epoch {epoch}")]
    UnknownSender { leaf_index: u64, epoch: u64 },
    #[error("frame {counter} was already received")]
    Replayed { counter: u64 },
    #[error("frame {counter} is older than the replay window")]
    TooOld { counter: u64 },
    #[error("the frame failed authentication (tampered, truncated or wrong key)")]
    Authentication,
    #[error("leaf index {leaf_index} does not fit the key id layout")]
    LeafIndexTooLarge { leaf_index: u32 },
    #[error("the frame counter is exhausted; a new epoch is needed")]
    CounterExhausted,
    #[error("metadata length {meta_len} exceeds the frame length {frame_len}")]
    BadMetadataLength { meta_len: usize, frame_len: usize },
    #[error("key schedule configuration error: {0}")]
    Config(String),
    #[error("the frame belongs to another media stream (KID context {context})")]
    WrongStream { context: u64 },
    #[error("SFrame error: {0}")]
    Other(String),
}

/// The key material of one epoch, as exported from the MLS group.
#[derive(Clone)]
pub struct EpochKeys {
    /// The MLS epoch number.
    pub epoch: u64,
    base_key: Vec<u8>,
    /// Leaf indexes of the members in this epoch; frames from anyone else are refused.
    pub members: BTreeSet<u32>,
}

impl std::fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochKeys")
            .field("epoch", &self.epoch)
            .field("base_key", &"<redacted>")
            .field("members", &self.members)
            .finish()
    }
}

impl Drop for EpochKeys {
    fn drop(&mut self) {
        self.base_key.iter_mut().for_each(|b| *b = 0);
    }
}

impl EpochKeys {
    /// Wraps an exported base key (normally built by `MeetingGroup::epoch_keys`).
    pub fn new(epoch: u64, base_key: Vec<u8>, members: BTreeSet<u32>) -> Self {
        Self {
            epoch,
            base_key,
            members,
        }
    }
}

/// Encrypts one member's outgoing frames with its current-epoch key.
pub struct MediaSender {
    config: MediaKeyConfig,
    stream: MediaStream,
    leaf_index: u32,
    epoch: u64,
    key: EncryptionKey,
    counter: MonotonicCounter,
}

impl MediaSender {
    /// An audio sender for `leaf_index` starting in the given epoch.
    pub fn new(
        config: MediaKeyConfig,
        keys: &EpochKeys,
        leaf_index: u32,
    ) -> Result<Self, MediaError> {
        Self::for_stream(config, MediaStream::Audio, keys, leaf_index)
    }

    /// A sender of `stream` for `leaf_index` starting in the given epoch.
    pub fn for_stream(
        config: MediaKeyConfig,
        stream: MediaStream,
        keys: &EpochKeys,
        leaf_index: u32,
    ) -> Result<Self, MediaError> {
        let key = Self::derive(&config, stream, keys, leaf_index)?;
        Ok(Self {
            config,
            stream,
            leaf_index,
            epoch: keys.epoch,
            key,
            counter: MonotonicCounter::default(),
        })
    }

    fn derive(
        config: &MediaKeyConfig,
        stream: MediaStream,
        keys: &EpochKeys,
        leaf_index: u32,
    ) -> Result<EncryptionKey, MediaError> {
        let key_id = config.key_id(stream, keys.epoch, leaf_index)?;
        EncryptionKey::derive_from(SFRAME_SUITE, KeyId::from(key_id), &keys.base_key)
            .map_err(|e| MediaError::Other(e.to_string()))
    }

    /// Switches to a new epoch at once (called right after merging a commit). The leaf index
    /// can change only through a re-join, so it is passed again.
    pub fn rekey(&mut self, keys: &EpochKeys, leaf_index: u32) -> Result<(), MediaError> {
        self.key = Self::derive(&self.config, self.stream, keys, leaf_index)?;
        self.leaf_index = leaf_index;
        self.epoch = keys.epoch;
        // A new key has a new salt, so nonces cannot repeat when the counter restarts.
        self.counter = MonotonicCounter::default();
        Ok(())
    }

    /// The epoch whose key is in use.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The sender's KID in the current epoch.
    pub fn key_id(&self) -> KeyId {
        self.key.key_id()
    }

    /// Encrypts `payload` into `out` as `metadata || SFrame header || ciphertext || tag`.
    /// `metadata` stays readable (e.g. an H.264 NAL header) but is authenticated.
    pub fn encrypt_into<'a>(
        &mut self,
        metadata: &[u8],
        payload: &[u8],
        out: &'a mut Vec<u8>,
    ) -> Result<&'a [u8], MediaError> {
        let frame = MediaFrameView::try_with_meta_data(&mut self.counter, &payload, &metadata)
            .map_err(|e| match e {
                SframeError::CounterCreationFailed(_) => MediaError::CounterExhausted,
                other => MediaError::Other(other.to_string()),
            })?;
        frame
            .encrypt_into(&self.key, out)
            .map_err(|e| MediaError::Other(e.to_string()))?;
        Ok(out.as_slice())
    }
}

/// A frame after decryption; borrows the caller's output buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct DecryptedFrame<'a> {
    /// Leaf index of the sender, from the authenticated KID.
    pub sender: u32,
    /// The epoch whose key decrypted the frame.
    pub epoch: u64,
    /// SFrame counter of the frame.
    pub counter: u64,
    /// The authenticated clear metadata.
    pub metadata: &'a [u8],
    /// The decrypted media payload.
    pub payload: &'a [u8],
}

struct SenderState {
    key: DecryptionKey,
    replay: ReplayAttackProtection,
}

struct ReceiverEpoch {
    keys: EpochKeys,
    /// When set, the epoch was superseded and is accepted only until then.
    retire_at: Option<Instant>,
    senders: HashMap<KeyId, SenderState>,
}

/// Decrypts frames of every other member, for the current epoch and, briefly, the previous one.
pub struct MediaReceiver {
    config: MediaKeyConfig,
    stream: MediaStream,
    /// Newest first.
    live: VecDeque<ReceiverEpoch>,
    /// Recently retired epoch numbers, kept only to tell "stale" from "unknown".
    retired: VecDeque<u64>,
}

impl MediaReceiver {
    /// An audio receiver holding the keys of `keys.epoch`.
    pub fn new(config: MediaKeyConfig, keys: EpochKeys) -> Result<Self, MediaError> {
        Self::for_stream(config, MediaStream::Audio, keys)
    }

    /// A receiver of `stream` holding the keys of `keys.epoch`; frames of other streams are
    /// refused.
    pub fn for_stream(
        config: MediaKeyConfig,
        stream: MediaStream,
        keys: EpochKeys,
    ) -> Result<Self, MediaError> {
        config.bit_range()?;
        let mut receiver = Self {
            config,
            stream,
            live: VecDeque::new(),
            retired: VecDeque::new(),
        };
        receiver.live.push_front(ReceiverEpoch {
            keys,
            retire_at: None,
            senders: HashMap::new(),
        });
        Ok(receiver)
    }

    /// Installs a new epoch; the previous one stays usable for the grace window from `now`.
    pub fn install(&mut self, keys: EpochKeys, now: Instant) {
        let grace_end = now + self.config.grace;
        for epoch in &mut self.live {
            epoch.retire_at = Some(epoch.retire_at.map_or(grace_end, |t| t.min(grace_end)));
        }
        self.live.push_front(ReceiverEpoch {
            keys,
            retire_at: None,
            senders: HashMap::new(),
        });
        // Only the previous epoch gets a grace window; anything older goes now.
        while self.live.len() > 2 {
            if let Some(old) = self.live.pop_back() {
                self.remember_retired(old.keys.epoch);
            }
        }
    }

    /// The newest installed epoch.
    pub fn current_epoch(&self) -> Option<u64> {
        self.live.front().map(|e| e.keys.epoch)
    }

    fn remember_retired(&mut self, epoch: u64) {
        self.retired.push_front(epoch);
        self.retired.truncate(8);
    }

    fn expire(&mut self, now: Instant) {
        while let Some(last) = self.live.back() {
            match last.retire_at {
                Some(t) if t <= now => {
                    if let Some(old) = self.live.pop_back() {
                        self.remember_retired(old.keys.epoch);
                    }
                }
                _ => break,
            }
        }
    }

    /// Authenticates and decrypts `frame` (laid out as `metadata || SFrame`, `metadata_len`
    /// bytes of clear metadata) into `out`. Every rejection is a typed error, never a panic.
    pub fn decrypt_into<'a>(
        &mut self,
        frame: &[u8],
        metadata_len: usize,
        out: &'a mut Vec<u8>,
        now: Instant,
    ) -> Result<DecryptedFrame<'a>, MediaError> {
        self.expire(now);
        if metadata_len > frame.len() {
            return Err(MediaError::BadMetadataLength {
                meta_len: metadata_len,
                frame_len: frame.len(),
            });
        }
        let (metadata, sframe) = frame.split_at(metadata_len);
        let view = EncryptedFrameView::try_with_meta_data(&sframe, &metadata)
            .map_err(|_| MediaError::Malformed)?;
        let key_id = view.header().key_id();
        let counter = view.header().counter();
        let bit_range = self.config.bit_range()?;
        let mls_key_id = MlsKeyId::from_key_id(key_id, bit_range);
        if mls_key_id.context_id() != self.stream.context() {
            return Err(MediaError::WrongStream {
                context: mls_key_id.context_id(),
            });
        }
        let epoch_mask = (1u64 << self.config.epoch_bits) - 1;
        let epoch_lsb = mls_key_id.epoch_lsb();
        let Some(epoch) = self
            .live
            .iter_mut()
            .find(|e| e.keys.epoch & epoch_mask == epoch_lsb)
        else {
            return Err(
                match self.retired.iter().find(|e| *e & epoch_mask == epoch_lsb) {
                    Some(&epoch) => MediaError::StaleEpoch { epoch },
                    None => MediaError::UnknownEpoch {
                        epoch_bits: epoch_lsb,
                    },
                },
            );
        };
        let leaf_index = mls_key_id.member_index();
        let epoch_number = epoch.keys.epoch;
        let member = u32::try_from(leaf_index)
            .ok()
            .filter(|i| epoch.keys.members.contains(i))
            .ok_or(MediaError::UnknownSender {
                leaf_index,
                epoch: epoch_number,
            })?;

        let sender = match epoch.senders.entry(key_id) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let key = DecryptionKey::derive_from(SFRAME_SUITE, key_id, &epoch.keys.base_key)
                    .map_err(|e| MediaError::Other(e.to_string()))?;
                let tolerance = Tolerance::try_new(self.config.replay_window)
                    .map_err(|e| MediaError::Config(e.to_string()))?;
                entry.insert(SenderState {
                    key,
                    replay: ReplayAttackProtection::new(key_id, tolerance),
                })
            }
        };
        let decrypted = view
            .validated_decrypt_into(&sender.key, out, &mut sender.replay)
            .map_err(|e| classify_sframe_error(&e, counter))?;
        Ok(DecryptedFrame {
            sender: member,
            epoch: epoch_number,
            counter,
            metadata: decrypted.meta_data(),
            payload: decrypted.payload(),
        })
    }
}

fn classify_sframe_error(error: &SframeError, counter: u64) -> MediaError {
    match error {
        SframeError::DecryptionFailure => MediaError::Authentication,
        SframeError::InvalidBuffer(_) => MediaError::Malformed,
        SframeError::FrameValidationFailed(_) => {
            match error.source_as::<ReplayAttackProtectionError>() {
                Some(ReplayAttackProtectionError::DuplicatedFrame { .. }) => {
                    MediaError::Replayed { counter }
                }
                Some(ReplayAttackProtectionError::CounterTooOld { .. }) => {
                    MediaError::TooOld { counter }
                }
                _ => MediaError::Other(error.to_string()),
            }
        }
        other => MediaError::Other(other.to_string()),
    }
}

/// One media stream's SFrame keys across MLS epochs, as both media pipelines hold them: on a
/// new epoch the sender switches at once and the receiver keeps the previous epoch for the
/// grace window.
pub struct StreamKeys {
    config: MediaKeyConfig,
    stream: MediaStream,
    sender: Option<MediaSender>,
    receiver: Option<MediaReceiver>,
    epoch: Option<u64>,
}

impl StreamKeys {
    /// No keys yet (nothing can be sent or read until [`StreamKeys::update`]).
    pub fn new(config: MediaKeyConfig, stream: MediaStream) -> Self {
        Self {
            config,
            stream,
            sender: None,
            receiver: None,
            epoch: None,
        }
    }

    /// The epoch whose keys are in use, if any.
    pub fn epoch(&self) -> Option<u64> {
        self.epoch
    }

    /// Installs the keys of the current epoch (a no-op if they are already in use).
    pub fn update(
        &mut self,
        keys: &EpochKeys,
        own_leaf: u32,
        now: Instant,
    ) -> Result<(), MediaError> {
        if self.epoch == Some(keys.epoch) {
            return Ok(());
        }
        match &mut self.sender {
            Some(sender) => sender.rekey(keys, own_leaf)?,
            None => {
                self.sender = Some(MediaSender::for_stream(
                    self.config,
                    self.stream,
                    keys,
                    own_leaf,
                )?);
            }
        }
        match &mut self.receiver {
            Some(receiver) => receiver.install(keys.clone(), now),
            None => {
                self.receiver = Some(MediaReceiver::for_stream(
                    self.config,
                    self.stream,
                    keys.clone(),
                )?);
            }
        }
        self.epoch = Some(keys.epoch);
        Ok(())
    }

    /// This member's sender, once keys are installed.
    pub fn sender(&mut self) -> Option<&mut MediaSender> {
        self.sender.as_mut()
    }

    /// The receiver for everyone else's frames, once keys are installed.
    pub fn receiver(&mut self) -> Option<&mut MediaReceiver> {
        self.receiver.as_mut()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn keys(epoch: u64, fill: u8, members: &[u32]) -> EpochKeys {
        EpochKeys::new(epoch, vec![fill; 16], members.iter().copied().collect())
    }

    fn pair(epoch: u64) -> (MediaSender, MediaReceiver) {
        let config = MediaKeyConfig::default();
        let sender = MediaSender::new(config, &keys(epoch, 1, &[0, 1]), 1).unwrap();
        let receiver = MediaReceiver::new(config, keys(epoch, 1, &[0, 1])).unwrap();
        (sender, receiver)
    }

    #[test]
    fn audio_frame_round_trip_with_metadata() {
        let (mut sender, mut receiver) = pair(5);
        let mut wire = Vec::new();
        let mut out = Vec::new();
        let now = Instant::now();
        let sent = sender
            .encrypt_into(&[0x65], &[42u8; 100], &mut wire)
            .unwrap();
        assert_eq!(sent[0], 0x65, "metadata stays in clear at the front");
        let frame = receiver.decrypt_into(sent, 1, &mut out, now).unwrap();
        assert_eq!(frame.payload, &[42u8; 100]);
        assert_eq!(frame.metadata, &[0x65]);
        assert_eq!(frame.sender, 1);
        assert_eq!(frame.epoch, 5);
    }

    #[test]
    fn bad_frames_get_typed_errors() {
        let (mut sender, mut receiver) = pair(1);
        let now = Instant::now();
        let mut wire = Vec::new();
        let mut out = Vec::new();
        let frame = sender
            .encrypt_into(&[], b"hello", &mut wire)
            .unwrap()
            .to_vec();

        assert_eq!(
            receiver.decrypt_into(&[], 0, &mut out, now),
            Err(MediaError::Malformed)
        );
        assert_eq!(
            receiver.decrypt_into(&frame, frame.len() + 1, &mut out, now),
            Err(MediaError::BadMetadataLength {
                meta_len: frame.len() + 1,
                frame_len: frame.len()
            })
        );
        let truncated = &frame[..frame.len() - 1];
        assert_eq!(
            receiver.decrypt_into(truncated, 0, &mut out, now),
            Err(MediaError::Authentication)
        );
        let mut tampered = frame.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 0x80;
        assert_eq!(
            receiver.decrypt_into(&tampered, 0, &mut out, now),
            Err(MediaError::Authentication)
        );
        // Authentic frame still accepted after the forgeries, once.
        assert!(receiver.decrypt_into(&frame, 0, &mut out, now).is_ok());
        assert_eq!(
            receiver.decrypt_into(&frame, 0, &mut out, now),
            Err(MediaError::Replayed { counter: 0 })
        );
    }

    #[test]
    fn frames_from_non_members_are_refused() {
        let config = MediaKeyConfig::default();
        let mut stranger = MediaSender::new(config, &keys(1, 1, &[0, 1, 7]), 7).unwrap();
        let mut receiver = MediaReceiver::new(config, keys(1, 1, &[0, 1])).unwrap();
        let mut wire = Vec::new();
        let frame = stranger.encrypt_into(&[], b"x", &mut wire).unwrap();
        assert_eq!(
            receiver.decrypt_into(frame, 0, &mut Vec::new(), Instant::now()),
            Err(MediaError::UnknownSender {
                leaf_index: 7,
                epoch: 1
            })
        );
    }

    #[test]
    fn grace_window_then_stale() {
        let (mut sender, mut receiver) = pair(1);
        let start = Instant::now();
        let mut wire = Vec::new();
        let old_frame = sender
            .encrypt_into(&[], b"old", &mut wire)
            .unwrap()
            .to_vec();

        receiver.install(keys(2, 2, &[0, 1]), start);
        sender.rekey(&keys(2, 2, &[0, 1]), 1).unwrap();
        let new_frame = sender
            .encrypt_into(&[], b"new", &mut wire)
            .unwrap()
            .to_vec();

        let mut out = Vec::new();
        let inside = start + Duration::from_millis(1500);
        assert_eq!(
            receiver
                .decrypt_into(&old_frame, 0, &mut out, inside)
                .unwrap()
                .epoch,
            1
        );
        let after = start + Duration::from_secs(3);
        assert!(
            receiver
                .decrypt_into(&new_frame, 0, &mut out, after)
                .is_ok()
        );
        let mut again = Vec::new();
        sender.rekey(&keys(1, 1, &[0, 1]), 1).unwrap();
        let late = sender.encrypt_into(&[], b"late", &mut again).unwrap();
        assert_eq!(
            receiver.decrypt_into(late, 0, &mut out, after),
            Err(MediaError::StaleEpoch { epoch: 1 })
        );
    }

    #[test]
    fn future_epoch_is_unknown() {
        let (mut sender, mut receiver) = pair(1);
        sender.rekey(&keys(3, 3, &[0, 1]), 1).unwrap();
        let mut wire = Vec::new();
        let frame = sender.encrypt_into(&[], b"x", &mut wire).unwrap();
        assert_eq!(
            receiver.decrypt_into(frame, 0, &mut Vec::new(), Instant::now()),
            Err(MediaError::UnknownEpoch { epoch_bits: 3 })
        );
    }

    #[test]
    fn leaf_index_must_fit_the_layout() {
        let config = MediaKeyConfig::default();
        assert!(matches!(
            MediaSender::new(config, &keys(1, 1, &[5000]), 5000),
            Err(MediaError::LeafIndexTooLarge { leaf_index: 5000 })
        ));
        assert!(MediaSender::new(config, &keys(1, 1, &[4095]), 4095).is_ok());
    }

    #[test]
    fn audio_and_video_of_one_member_use_different_keys_and_do_not_cross() {
        let config = MediaKeyConfig::default();
        let epoch = keys(3, 7, &[0, 1]);
        let mut audio = MediaSender::new(config, &epoch, 1).unwrap();
        let mut video = MediaSender::for_stream(config, MediaStream::Video, &epoch, 1).unwrap();
        assert_ne!(audio.key_id(), video.key_id());
        let (mut a, mut v) = (Vec::new(), Vec::new());
        // Same counter (0), same payload: different ciphertext, so no nonce is shared.
        audio.encrypt_into(&[], &[9u8; 32], &mut a).unwrap();
        video.encrypt_into(&[], &[9u8; 32], &mut v).unwrap();
        assert_ne!(a, v);
        let now = Instant::now();
        let mut video_rx =
            MediaReceiver::for_stream(config, MediaStream::Video, epoch.clone()).unwrap();
        let mut audio_rx = MediaReceiver::new(config, epoch).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            video_rx.decrypt_into(&a, 0, &mut out, now).err(),
            Some(MediaError::WrongStream { context: 0 })
        );
        assert_eq!(
            audio_rx.decrypt_into(&v, 0, &mut out, now).err(),
            Some(MediaError::WrongStream { context: 1 })
        );
        assert_eq!(
            video_rx.decrypt_into(&v, 0, &mut out, now).unwrap().payload,
            &[9u8; 32]
        );
    }
}
