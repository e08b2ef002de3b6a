//! Secret hygiene, end to end (filled in by the next commit).
