//! The operator's side: what `oauthd`'s subcommands do, beside the server
//! rather than above it. `main.rs` parses the arguments and prints; these
//! modules do the work, under the same rules the HTTP endpoints apply.

/// Users, clients, personal tokens and resources from the shell.
pub mod admin;
/// `oauthd export` / `oauthd import`: users and clients as one JSON document.
pub mod export_import;
