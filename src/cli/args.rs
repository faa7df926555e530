//! The command line's shape: every subcommand, flag and help text, parsed by
//! clap. What each command does is in the sibling modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A standalone OAuth 2.0 authorization server.
#[derive(Parser)]
#[command(name = "oauthd", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Path to a TOML config file (see config.example.toml).
    #[arg(long, global = true, env = "OAUTHD_CONFIG", value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the server (the default when no command is given).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage personal access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage registered resources (RFC 8707 resource indicators).
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Manage the keys that sign ID tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Delete expired codes, tokens and sessions.
    Janitor {
        /// Run one pass and exit (for cron); the server runs it on its own.
        #[arg(long)]
        once: bool,
    },
    /// Check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script to stdout.
    ///
    /// For example `oauthd completions bash > /etc/bash_completion.d/oauthd`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Write users and clients as one JSON document (for `oauthd import`).
    ///
    /// The document holds users (with their argon2 password hashes), clients
    /// (with their secret digests, redirect URIs, scopes and CORS origins),
    /// consents, and refresh and personal access tokens (as digests). It
    /// never holds a plaintext password or secret, but the hashes are worth
    /// guarding: keep the file like a database backup. With --output it is
    /// written with mode 0600 (owner read/write only). Sessions, codes,
    /// access tokens and the audit trail are not carried.
    Export {
        /// Write to FILE (mode 0600) instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Read an `oauthd export` document into this database.
    ///
    /// The whole document is checked, then written in one transaction: a
    /// malformed document (exit code 2) or a user, client or token that
    /// already exists here (exit code 1) leaves the database unchanged. Run
    /// it on a new database before its first `oauthd serve` (which would
    /// make a first-run `admin` user of its own).
    Import {
        /// The document to read; stdin when absent or `-`.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate the configuration and print what the server would use.
    ///
    /// Validates exactly as `serve` does (exit code 2 and the same one-line
    /// error when it is bad), then prints every key's effective value, with
    /// secrets redacted, and the metadata document the server will
    /// advertise. Needs no database.
    Check {
        /// Print one JSON object (`config`, `metadata`) instead of TOML and
        /// JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a personal access token; prints it once.
    Create {
        /// The user it acts for.
        #[arg(long)]
        user: String,
        /// Space-separated scopes from the catalogue.
        #[arg(long)]
        scope: String,
        /// A label to recognise it by.
        #[arg(long, value_name = "LABEL")]
        name: Option<String>,
        /// Days until it expires (default: never).
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_in: Option<u32>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List a user's personal access tokens (never the tokens themselves).
    List {
        /// The user.
        #[arg(long)]
        user: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a personal access token by its id.
    Revoke {
        /// The id `token list` shows.
        id: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Create a new signing key: published now, signing after
    /// signing.prepublish_secs (or at once with --now). The key it replaces
    /// stays published until what it signed has expired.
    Rotate {
        /// Sign with the new key at once (first key, or a compromised key
        /// to replace); relying parties with a cached JWKS may fail to
        /// verify until they fetch it again.
        #[arg(long)]
        now: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List signing keys and their state (pending, active, published,
    /// expired, retired).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Retire a key: it is no longer published, so what it signed no longer
    /// verifies. The active key cannot be retired (rotate --now first).
    Retire {
        /// The key id (kid). A kid is base64url and may start with `-`,
        /// which is read as the kid, not an option.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum ResourceCommand {
    /// Register a resource: the consent page shows its name, and the client
    /// named with --client (its resource server) may introspect tokens for it.
    Add {
        /// The resource URI (absolute, no fragment): the audience of its tokens.
        uri: String,
        /// The name the consent page shows.
        #[arg(long)]
        name: String,
        /// The client_id of its resource server.
        #[arg(long, value_name = "CLIENT_ID")]
        client: Option<String>,
        /// opaque (the default) or jwt: access tokens for it are signed JWTs
        /// (RFC 9068) its server can verify with the JWKS.
        #[arg(long, value_name = "opaque|jwt")]
        token_format: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change a registered resource.
    Update {
        /// The resource URI.
        uri: String,
        /// opaque or jwt: the format of access tokens for it.
        #[arg(long, value_name = "opaque|jwt", required = true)]
        token_format: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List registered resources.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Forget a registered resource (tokens already issued keep their audience).
    Remove {
        /// The resource URI.
        uri: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user (prompts for the password twice on a terminal).
    Add(PasswordArgs),
    /// Set a user's password.
    Passwd(PasswordArgs),
    /// List users.
    List,
    /// Stop a user from signing in.
    Disable {
        /// The user name.
        name: String,
    },
    /// Let a disabled user sign in again.
    Enable {
        /// The user name.
        name: String,
    },
    /// Show a user's profile (name and email address, what OpenID Connect's
    /// `profile` and `email` scopes reveal), changing it first when asked.
    Profile(ProfileArgs),
}

#[derive(Args)]
pub(crate) struct ProfileArgs {
    /// The user name.
    pub(crate) username: String,
    /// Set the display name ("" removes it).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Set the email address ("" removes it). Unless --email-verified says
    /// otherwise, a changed address is unverified.
    #[arg(long)]
    pub(crate) email: Option<String>,
    /// Whether you vouch for the address: true or false.
    #[arg(long, value_name = "BOOL")]
    pub(crate) email_verified: Option<bool>,
}

#[derive(Args)]
pub(crate) struct PasswordArgs {
    /// The user name (a-z, 0-9, '.', '_', '-'; case-insensitive).
    pub(crate) name: String,
    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    pub(crate) password_stdin: bool,
}

#[derive(Subcommand)]
pub(crate) enum ClientCommand {
    /// Register a client; prints its client_id and, once, its secret.
    Add {
        /// Display name shown on consent pages.
        #[arg(long)]
        name: String,
        /// A redirect URI (repeat for several; none means out-of-band codes).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Space-separated scopes (default: scopes.default_scopes).
        #[arg(long)]
        scope: Option<String>,
        /// The client's home page.
        #[arg(long, value_name = "URL")]
        website: Option<String>,
        /// A public client (native or browser app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// A browser origin (scheme://host[:port]) allowed to call the token
        /// endpoint with CORS (repeat for several).
        #[arg(long = "allowed-origin", value_name = "ORIGIN")]
        allowed_origins: Vec<String>,
        /// Let it introspect every token, not only its own (for resource
        /// servers; confidential clients only).
        #[arg(long, conflicts_with = "public")]
        introspect: bool,
        /// A grant type it may use (repeat for several): authorization_code,
        /// refresh_token, client_credentials, or
        /// urn:ietf:params:oauth:grant-type:device_code (a device without a
        /// browser; needs no redirect URI). Default: authorization_code and
        /// refresh_token.
        #[arg(long = "grant-type", value_name = "GRANT")]
        grant_types: Vec<String>,
        /// How it authenticates at the token endpoint (RFC 7591):
        /// client_secret_basic, client_secret_post or none. Default: a secret
        /// sent either way (none with --public).
        #[arg(long, value_name = "METHOD", conflicts_with = "public")]
        auth_method: Option<String>,
        /// web (the default) or native (RFC 8252: loopback or private-use
        /// scheme redirect URIs).
        #[arg(long, value_name = "TYPE")]
        application_type: Option<String>,
        /// Where RP-initiated logout may send the browser back to (repeat
        /// for several; the rules of --redirect-uri).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// OpenID Connect subjects: public (the default: `sub` is the user
        /// id) or pairwise (a different `sub` per client host; needs
        /// oidc.pairwise_salt and redirect URIs on one host).
        #[arg(long, value_name = "TYPE")]
        subject_type: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List clients.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one client (never its secret).
    Show {
        /// The client_id.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change what the operator allows a client.
    Update {
        /// The client_id.
        id: String,
        /// true: it may introspect every token (a resource server; confidential
        /// clients only). false: only the tokens issued to it.
        #[arg(long, value_name = "true|false", action = clap::ArgAction::Set, required_unless_present = "token_format")]
        introspect: Option<bool>,
        /// opaque or jwt: the format of its access tokens (RFC 9068 JWTs
        /// with jwt).
        #[arg(long, value_name = "opaque|jwt")]
        token_format: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show or set the resources a client may ask for (RFC 8707).
    ///
    /// With --resource (repeat for several) the list is replaced; with
    /// --any it is cleared (any resource); with neither it is printed.
    Resources {
        /// The client_id.
        id: String,
        /// A resource URI the client may ask for.
        #[arg(long = "resource", value_name = "URI", conflicts_with = "any")]
        resources: Vec<String>,
        /// Clear the list: the client may ask for any resource.
        #[arg(long)]
        any: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client.
    Remove {
        /// The client_id.
        id: String,
    },
    /// Issue a new secret; the old one stops working at once.
    RotateSecret {
        /// The client_id.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command, KeysCommand};

    #[test]
    fn a_kid_that_starts_with_a_hyphen_is_a_kid() {
        let cli = Cli::try_parse_from(["oauthd", "keys", "retire", "-Xq3"]).unwrap();
        let Some(Command::Keys(KeysCommand::Retire { kid })) = cli.command else {
            panic!("keys retire");
        };
        assert_eq!(kid, "-Xq3");
    }
}
