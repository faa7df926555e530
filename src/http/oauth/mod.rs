//! Protocol endpoints: parse, call `oauth::`, render.

pub mod authorize;
pub mod token;
