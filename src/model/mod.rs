//! Values shared by the protocol rules (`oauth`) and storage (`store`): what
//! a client, a scope and a redirect URI are. Plain data and its parsing; no
//! I/O, no configuration, and nothing imported from the layers above.

pub mod client;
pub mod redirect_uri;
pub mod scope;
