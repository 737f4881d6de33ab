//! Checks shared by the operations: access reviews, read-only, locks, protected environments, alerts.
