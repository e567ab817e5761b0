//! The Conclave meeting server (filled in by the server issue).
