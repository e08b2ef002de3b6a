//! Fault injection at the manager level, end to end (filled in by the next commit).
