//! Hostile input: every bad request gets the right Status and leaves the store unchanged.
