//! Reading a proposal's sender, epoch and type from its clear MLS framing, without the group:
//! what the server's delivery service needs to decide whether to relay it.

use super::*;

/// What a member's proposal asks for, read from its clear framing (the delivery service has no
/// group state to process it with; members still verify it with openmls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalSummary {
    /// The proposing member's leaf (`None` if the sender is not a member).
    pub sender_leaf: Option<u32>,
    /// The MLS group epoch it belongs to.
    pub epoch: u64,
    pub kind: ProposalKind,
}

/// The kind of a proposal, as far as the delivery service's relay rule needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalKind {
    Remove {
        leaf: u32,
    },
    Update,
    /// Any other proposal type (RFC 9420 §17.4 number).
    Other(u16),
}

/// Reads the framing of a serialized MLS `PublicMessage` carrying a proposal (RFC 9420 §6):
/// the sender, the epoch and the proposal type. Anything else (another wire format, a commit,
/// truncated bytes) is an error.
pub fn peek_proposal(bytes: &[u8]) -> Result<ProposalSummary, GroupError> {
    let bad = |what: &str| GroupError::Decode(format!("not an MLS proposal: {what}"));
    let mut reader = TlsReader(bytes);
    let version = reader.u16().ok_or_else(|| bad("truncated"))?;
    let wire_format = reader.u16().ok_or_else(|| bad("truncated"))?;
    if version != 1 || wire_format != 1 {
        return Err(bad("not an MLS 1.0 public message"));
    }
    reader.vector().ok_or_else(|| bad("group id"))?;
    let epoch = reader.u64().ok_or_else(|| bad("epoch"))?;
    let sender_type = reader.u8().ok_or_else(|| bad("sender"))?;
    let sender_leaf = match sender_type {
        1 => Some(reader.u32().ok_or_else(|| bad("sender"))?),
        2 => {
            reader.u32().ok_or_else(|| bad("sender"))?;
            None
        }
        3 | 4 => None,
        _ => return Err(bad("sender type")),
    };
    reader.vector().ok_or_else(|| bad("authenticated data"))?;
    if reader.u8() != Some(2) {
        return Err(bad("content type"));
    }
    let kind = match reader.u16().ok_or_else(|| bad("proposal type"))? {
        2 => ProposalKind::Update,
        3 => ProposalKind::Remove {
            leaf: reader.u32().ok_or_else(|| bad("removed leaf"))?,
        },
        other => ProposalKind::Other(other),
    };
    Ok(ProposalSummary {
        sender_leaf,
        epoch,
        kind,
    })
}

/// A cursor over TLS presentation-language bytes (big-endian integers, RFC 9000 varint
/// lengths as RFC 9420 §2.1.2 uses them).
struct TlsReader<'a>(&'a [u8]);

impl<'a> TlsReader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(b);
        Some(u64::from_be_bytes(raw))
    }

    /// A variable-length vector; returns its contents.
    fn vector(&mut self) -> Option<&'a [u8]> {
        let first = *self.0.first()?;
        let len = match first >> 6 {
            0 => usize::from(self.u8()? & 0x3f),
            1 => usize::from(self.u16()? & 0x3fff),
            2 => usize::try_from(self.u32()? & 0x3fff_ffff).ok()?,
            _ => return None,
        };
        self.take(len)
    }
}
