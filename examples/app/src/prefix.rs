//! The app's cache prefixes, usable as `prefix = crate::prefix::FMPA`.
//!
//! Sharing one constant between `#[cached]` and `#[invalidates]` turns a typo between
//! reader and writer into a compile error.

/// User sessions.
pub const SESSION: &str = "session";
/// User profiles and data.
pub const USER: &str = "user";
/// FMPA lists and items.
pub const FMPA: &str = "fmpa";
/// Training (formation) lists and items.
pub const FORMATION: &str = "formation";
/// Personnel files.
pub const PERSONNEL: &str = "personnel";
/// Conversations and messages.
pub const CONVERSATION: &str = "conversation";
/// Notifications.
pub const NOTIFICATION: &str = "notification";
/// TTA entries.
pub const TTA: &str = "tta";
/// Statistics and dashboard.
pub const STATS: &str = "stats";
/// Chat channels and messages.
pub const CHAT: &str = "chat";
