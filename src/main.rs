//! The `oauthd` command: parse arguments, load config, call the library.
//!
//! Exit codes: 0 success, 2 usage or configuration error, 1 runtime failure.
//! Messages go to stderr; only requested output (ids, secrets, lists) goes to
//! stdout.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use clap::{Args, CommandFactory, Parser, Subcommand};
use oauthd::cli::admin::{self, AdminError, NewClientArgs};
use oauthd::cli::export_import::{self, TransferError};
use oauthd::clock::{Clock, format_utc};
use oauthd::config::Config;
use oauthd::store::Db;
use oauthd::telemetry::error_chain as chain;

/// A standalone OAuth 2.0 authorization server.
#[derive(Parser)]
#[command(name = "oauthd", version, about, propagate_version = true)]
struct Cli {
    /// Path to a TOML config file (see config.example.toml).
    #[arg(long, global = true, env = "OAUTHD_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
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
enum ConfigCommand {
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
enum TokenCommand {
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
enum KeysCommand {
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
        /// The key id (kid).
        kid: String,
    },
}

#[derive(Subcommand)]
enum ResourceCommand {
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
enum UserCommand {
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
struct ProfileArgs {
    /// The user name.
    username: String,
    /// Set the display name ("" removes it).
    #[arg(long)]
    name: Option<String>,
    /// Set the email address ("" removes it). Unless --email-verified says
    /// otherwise, a changed address is unverified.
    #[arg(long)]
    email: Option<String>,
    /// Whether you vouch for the address: true or false.
    #[arg(long, value_name = "BOOL")]
    email_verified: Option<bool>,
}

#[derive(Args)]
struct PasswordArgs {
    /// The user name (a-z, 0-9, '.', '_', '-'; case-insensitive).
    name: String,
    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Subcommand)]
enum ClientCommand {
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
        #[arg(long, value_name = "true|false", action = clap::ArgAction::Set, required = true)]
        introspect: bool,
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

/// How a command failed, and so which exit code it gets.
enum Failure {
    Usage(String),
    Runtime(String),
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Usage(m) => Self::Usage(m),
            AdminError::Failed(m) => Self::Runtime(m),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // These two need no database and no runtime.
    match &cli.command {
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "oauthd",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
        Some(Command::Config(ConfigCommand::Check { json })) => {
            return config_check(cli.config.as_deref(), *json);
        }
        _ => {}
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("oauthd: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oauthd: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("oauthd: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(m)) => {
            eprintln!("oauthd: {m}");
            ExitCode::from(1)
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), Failure> {
    match command {
        Command::Serve => {
            // Held until serve returns (SIGTERM and SIGINT included), so
            // every queued log line is written before the process ends.
            let _logs = oauthd::telemetry::init(&config.log);
            oauthd::server::serve(config)
                .await
                .map_err(|e| Failure::Runtime(chain(&e)))
        }
        Command::Migrate => {
            let _logs = oauthd::telemetry::init(&config.log);
            let db = open_as(&config, Missing::Create).await?;
            db.migrate()
                .await
                .map_err(|e| Failure::Runtime(chain(&e)))?;
            eprintln!("oauthd: migrations applied ({})", db.backend());
            Ok(())
        }
        // Handled in `main` before the config is loaded.
        Command::Config(_) | Command::Completions { .. } => Ok(()),
        Command::Export { output } => export(&config, output.as_deref()).await,
        Command::Import { file } => import(&config, file.as_deref()).await,
        Command::User(cmd) => user(cmd, &config).await,
        Command::Client(cmd) => client(cmd, &config).await,
        Command::Token(cmd) => token(cmd, &config).await,
        Command::Resource(cmd) => resource(cmd, &config).await,
        Command::Keys(cmd) => keys(cmd, &config).await,
        Command::Janitor { once } => {
            let _logs = oauthd::telemetry::init(&config.log);
            let db = open(&config).await?;
            let clock = Clock::system();
            if once {
                let n = oauthd::janitor::run_once(&db, &clock, &config)
                    .await
                    .map_err(|e| Failure::Runtime(chain(&e)))?;
                eprintln!("oauthd: janitor removed {n} expired rows");
            } else {
                // Nothing serves /metrics here: its counts go nowhere.
                let metrics = std::sync::Arc::default();
                oauthd::janitor::run_forever(db, clock, config, metrics).await;
            }
            Ok(())
        }
    }
}

/// `oauthd config check`: the same loader and errors as `serve`, then the
/// effective values and the metadata document on stdout.
fn config_check(file: Option<&Path>, json: bool) -> ExitCode {
    let (config, effective) = match Config::load_effective(file) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("oauthd: {e}");
            return ExitCode::from(2);
        }
    };
    let metadata = oauthd::http::oauth::metadata::build(&config);
    let printed = if json {
        serde_json::to_string_pretty(&serde_json::json!({
            "config": effective,
            "metadata": metadata,
        }))
        .map(|text| format!("{text}\n"))
        .map_err(|e| e.to_string())
    } else {
        toml::to_string(&effective)
            .map_err(|e| e.to_string())
            .and_then(|values| {
                let document =
                    serde_json::to_string_pretty(&metadata).map_err(|e| e.to_string())?;
                Ok(format!(
                    "# Effective configuration (secrets redacted)\n\n{values}\n\
                     # Metadata served at /.well-known/oauth-authorization-server\n{document}\n"
                ))
            })
    };
    match printed {
        Ok(text) => {
            print!("{text}");
            eprintln!("oauthd: the configuration is valid");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("oauthd: cannot print the configuration: {e}");
            ExitCode::from(1)
        }
    }
}

async fn export(config: &Config, output: Option<&Path>) -> Result<(), Failure> {
    let db = open(config).await?;
    let document = export_import::export(&db, &Clock::system())
        .await
        .map_err(transfer_failure)?;
    let mut text = serde_json::to_string_pretty(&document)
        .map_err(|e| Failure::Runtime(format!("cannot encode JSON: {e}")))?;
    text.push('\n');
    match output {
        Some(path) => write_private(path, text.as_bytes())
            .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", path.display())))?,
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| Failure::Runtime(format!("cannot write to stdout: {e}")))?,
    }
    eprintln!(
        "oauthd: exported {} from {}; the document holds password hashes and secret digests: keep it private",
        document.counts(),
        db.backend()
    );
    Ok(())
}

/// Writes a file only its owner may read: created with mode 0600, and an
/// existing file is narrowed to 0600 before anything is written into it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

async fn import(config: &Config, file: Option<&Path>) -> Result<(), Failure> {
    let text = match file {
        Some(path) if path != Path::new("-") => std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?,
        _ => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| Failure::Usage(format!("cannot read stdin: {e}")))?;
            input
        }
    };
    // Checked before the database is opened: a bad document changes nothing.
    let document = export_import::parse(&text).map_err(transfer_failure)?;
    let db = open_as(config, Missing::Create).await?;
    let counts = export_import::import(&db, &document)
        .await
        .map_err(transfer_failure)?;
    eprintln!("oauthd: imported {counts} into {}", db.backend());
    Ok(())
}

fn transfer_failure(e: TransferError) -> Failure {
    match e {
        TransferError::Malformed(m) => Failure::Usage(m),
        TransferError::Conflict(_) => Failure::Runtime(e.to_string()),
        TransferError::Store(e) => Failure::Runtime(chain(&e)),
    }
}

/// Whether a CLI command may make the database it is pointed at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// `migrate` and `import`: making the schema is their job.
    Create,
    /// Every other command: a missing or empty database is a mistake (the
    /// wrong directory, config or `DATABASE_URL`), not something to create.
    Refuse,
}

/// Opens the database the config names (as `serve` would), says which on
/// stderr, and brings the schema up to date, for CLI commands.
async fn open(config: &Config) -> Result<Db, Failure> {
    open_as(config, Missing::Refuse).await
}

async fn open_as(config: &Config, missing: Missing) -> Result<Db, Failure> {
    let shown = config.database.shown_url();
    eprintln!("oauthd: database {shown}");
    let refuse = || {
        Failure::Runtime(format!(
            "no oauthd database at {shown}: create it with `oauthd migrate` (or `oauthd serve`), or point --config or DATABASE_URL at the server's"
        ))
    };
    if missing == Missing::Refuse
        && !config.database.is_postgres()
        && let Some(file) = sqlite_file(&config.database.url)
        && !file.exists()
    {
        return Err(refuse());
    }
    let db = Db::connect(&config.database)
        .await
        .map_err(|e| Failure::Runtime(chain(&e)))?;
    if missing == Missing::Refuse {
        let applied = db
            .newest_applied_migration()
            .await
            .map_err(|e| Failure::Runtime(chain(&e)))?;
        if applied.is_none() {
            return Err(refuse());
        }
    }
    db.migrate()
        .await
        .map_err(|e| Failure::Runtime(chain(&e)))?;
    Ok(db)
}

/// The file a SQLite URL names; `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (file != Path::new(":memory:") && !file.as_os_str().is_empty()).then(|| file.to_path_buf())
}

async fn user(cmd: UserCommand, config: &Config) -> Result<(), Failure> {
    let clock = Clock::system();
    match cmd {
        UserCommand::Add(args) => {
            let password = read_password(&args)?;
            let db = open(config).await?;
            let user = admin::add_user(&db, &clock, &args.name, &password).await?;
            eprintln!("oauthd: created user {}", user.username);
        }
        UserCommand::Passwd(args) => {
            let password = read_password(&args)?;
            let db = open(config).await?;
            admin::set_password(&db, &clock, &args.name, &password).await?;
            eprintln!("oauthd: password changed");
        }
        UserCommand::List => {
            let db = open(config).await?;
            let users = oauthd::store::users::list(&db)
                .await
                .map_err(|e| Failure::Runtime(chain(&e)))?;
            println!("{:<32} {:<9} CREATED", "USERNAME", "STATUS");
            for u in users {
                let status = if u.disabled { "disabled" } else { "active" };
                println!(
                    "{:<32} {:<9} {}",
                    u.username,
                    status,
                    format_utc(u.created_at)
                );
            }
        }
        UserCommand::Disable { name } => {
            let db = open(config).await?;
            admin::disable_user(&db, &clock, &name).await?;
            eprintln!("oauthd: user disabled");
        }
        UserCommand::Enable { name } => {
            let db = open(config).await?;
            admin::enable_user(&db, &clock, &name).await?;
            eprintln!("oauthd: user enabled");
        }
        UserCommand::Profile(args) => {
            let db = open(config).await?;
            let change = admin::ProfileChange {
                name: args.name.as_deref(),
                email: args.email.as_deref(),
                email_verified: args.email_verified,
            };
            let user =
                if args.name.is_none() && args.email.is_none() && args.email_verified.is_none() {
                    admin::show_user(&db, &args.username).await?
                } else {
                    let user =
                        admin::set_user_profile(&db, &clock, &args.username, &change).await?;
                    eprintln!("oauthd: profile changed");
                    user
                };
            println!("username:       {}", user.username);
            println!("name:           {}", user.name.as_deref().unwrap_or("-"));
            println!("email:          {}", user.email.as_deref().unwrap_or("-"));
            println!("email_verified: {}", user.email_verified);
        }
    }
    Ok(())
}

async fn client(cmd: ClientCommand, config: &Config) -> Result<(), Failure> {
    let clock = Clock::system();
    let db = open(config).await?;
    match cmd {
        ClientCommand::Add {
            name,
            redirect_uris,
            scope,
            website,
            public,
            allowed_origins,
            introspect,
            grant_types,
            auth_method,
            application_type,
            subject_type,
            json,
        } => {
            let args = NewClientArgs {
                name,
                redirect_uris,
                scope,
                website,
                public,
                allowed_origins,
                introspect,
                grant_types,
                auth_method,
                application_type,
                subject_type,
            };
            let issued = admin::add_client(&db, &clock, config, args).await?;
            print_issued(&issued, json)?;
        }
        ClientCommand::List { json } => {
            let clients = admin::list_clients(&db).await?;
            if json {
                print_json(&clients)?;
            } else {
                println!(
                    "{:<32} {:<12} {:<28} REDIRECT_URIS",
                    "CLIENT_ID", "TYPE", "NAME"
                );
                for c in clients {
                    println!(
                        "{:<32} {:<12} {:<28} {}",
                        c.client_id,
                        client_type(&c.token_endpoint_auth_method),
                        c.client_name,
                        c.redirect_uris.join(" ")
                    );
                }
            }
        }
        ClientCommand::Show { id, json } => {
            let c = admin::show_client(&db, &id).await?;
            if json {
                print_json(&c)?;
            } else {
                print_client(&c);
            }
        }
        ClientCommand::Update {
            id,
            introspect,
            json,
        } => {
            let c = admin::set_introspection(&db, &clock, &id, introspect).await?;
            if json {
                print_json(&c)?;
            } else {
                print_client(&c);
            }
            eprintln!("oauthd: client {id} updated");
        }
        ClientCommand::Resources {
            id,
            resources,
            any,
            json,
        } => {
            let list = if any || !resources.is_empty() {
                let list = admin::set_client_resources(&db, &id, &resources).await?;
                eprintln!("oauthd: client {id} updated");
                list
            } else {
                admin::client_resources(&db, &id).await?
            };
            if json {
                print_json(&list)?;
            } else if list.is_empty() {
                println!("any resource");
            } else {
                for uri in list {
                    println!("{uri}");
                }
            }
        }
        ClientCommand::Remove { id } => {
            admin::remove_client(&db, &id).await?;
            eprintln!("oauthd: client {id} removed");
        }
        ClientCommand::RotateSecret { id, json } => {
            let issued = admin::rotate_client_secret(&db, &clock, &id).await?;
            print_issued(&issued, json)?;
        }
    }
    Ok(())
}

async fn keys(cmd: KeysCommand, config: &Config) -> Result<(), Failure> {
    use oauthd::signing::{self, SigningError};
    let clock = Clock::system();
    let db = open(config).await?;
    let failed = |e: SigningError| match e {
        SigningError::NoKek | SigningError::Refused(_) => Failure::Usage(e.to_string()),
        _ => Failure::Runtime(chain(&e)),
    };
    let signing = &config.signing;
    match cmd {
        KeysCommand::Rotate { now, json } => {
            let Some(key) = signing::rotate(&db, &clock, signing, now)
                .await
                .map_err(failed)?
            else {
                return Err(Failure::Runtime(
                    "another process created a key at the same moment: run `oauthd keys list`"
                        .into(),
                ));
            };
            let rows = [key.clone()];
            let view = signing::views(&rows, clock.now(), signing);
            if json {
                print_json(&view)?;
            } else {
                println!(
                    "{} {} signs from {}",
                    key.kid,
                    key.alg,
                    format_utc(key.activates_at)
                );
            }
            eprintln!("oauthd: signing key {} created", key.kid);
        }
        KeysCommand::List { json } => {
            let rows = oauthd::store::signing_keys::list(&db)
                .await
                .map_err(|e| Failure::Runtime(chain(&e)))?;
            let views = signing::views(&rows, clock.now(), signing);
            if json {
                print_json(&views)?;
            } else {
                println!(
                    "{:<18} {:<6} {:<10} {:<24} CREATED",
                    "KID", "ALG", "STATE", "SIGNS FROM"
                );
                for k in views {
                    println!(
                        "{:<18} {:<6} {:<10} {:<24} {}",
                        k.kid,
                        k.alg,
                        k.state,
                        format_utc(k.activates_at),
                        format_utc(k.created_at)
                    );
                }
            }
        }
        KeysCommand::Retire { kid } => {
            if !signing::retire(&db, &clock, &kid).await.map_err(failed)? {
                return Err(Failure::Usage(format!("no unretired signing key {kid}")));
            }
            eprintln!("oauthd: signing key {kid} retired");
        }
    }
    Ok(())
}

async fn resource(cmd: ResourceCommand, config: &Config) -> Result<(), Failure> {
    let clock = Clock::system();
    let db = open(config).await?;
    match cmd {
        ResourceCommand::Add {
            uri,
            name,
            client,
            json,
        } => {
            let r = admin::add_resource(&db, &clock, &uri, &name, client.as_deref()).await?;
            if json {
                print_json(&r)?;
            } else {
                print_resource(&r);
            }
            eprintln!("oauthd: resource {uri} registered");
        }
        ResourceCommand::List { json } => {
            let list = admin::list_resources(&db).await?;
            if json {
                print_json(&list)?;
            } else {
                println!("{:<48} {:<32} NAME", "URI", "CLIENT_ID");
                for r in list {
                    println!(
                        "{:<48} {:<32} {}",
                        r.uri,
                        r.client_id.as_deref().unwrap_or("-"),
                        r.name
                    );
                }
            }
        }
        ResourceCommand::Remove { uri } => {
            admin::remove_resource(&db, &uri).await?;
            eprintln!("oauthd: resource {uri} removed");
        }
    }
    Ok(())
}

fn print_resource(r: &admin::ResourceView) {
    println!("uri:        {}", r.uri);
    println!("name:       {}", r.name);
    println!("client_id:  {}", r.client_id.as_deref().unwrap_or("-"));
}

async fn token(cmd: TokenCommand, config: &Config) -> Result<(), Failure> {
    let clock = Clock::system();
    let db = open(config).await?;
    match cmd {
        TokenCommand::Create {
            user,
            scope,
            name,
            expires_in,
            json,
        } => {
            let created = admin::create_token(
                &db,
                &clock,
                config,
                &user,
                &scope,
                name.as_deref(),
                expires_in,
            )
            .await?;
            if json {
                print_json(&created)?;
            } else {
                println!("id:      {}", created.id);
                println!("scope:   {}", created.scope);
                println!(
                    "expires: {}",
                    created.expires_at.map_or("never".to_owned(), format_utc)
                );
                println!("token:   {}", created.token.as_deref().unwrap_or(""));
                eprintln!("oauthd: the token is shown only this once; store it now");
            }
        }
        TokenCommand::List { user, json } => {
            let tokens = admin::list_tokens(&db, &clock, &user).await?;
            if json {
                print_json(&tokens)?;
            } else {
                println!(
                    "{:<36} {:<9} {:<24} {:<24} LABEL",
                    "ID", "STATUS", "SCOPE", "EXPIRES"
                );
                for t in tokens {
                    println!(
                        "{:<36} {:<9} {:<24} {:<24} {}",
                        t.id,
                        t.status,
                        t.scope,
                        t.expires_at.map_or("never".to_owned(), format_utc),
                        t.label.as_deref().unwrap_or("")
                    );
                }
            }
        }
        TokenCommand::Revoke { id } => {
            admin::revoke_token(&db, &clock, &id).await?;
            eprintln!("oauthd: token {id} revoked");
        }
    }
    Ok(())
}

fn client_type(auth_method: &str) -> &'static str {
    if auth_method == "none" {
        "public"
    } else {
        "confidential"
    }
}

fn print_client(c: &admin::ClientView) {
    println!("client_id:     {}", c.client_id);
    println!("name:          {}", c.client_name);
    println!(
        "type:          {}",
        client_type(&c.token_endpoint_auth_method)
    );
    if c.token_endpoint_auth_method == oauthd::oauth::registration::EITHER_SECRET_METHOD {
        println!(
            "auth method:   client_secret_basic or client_secret_post (none named at registration)"
        );
    } else {
        println!("auth method:   {}", c.token_endpoint_auth_method);
    }
    println!("website:       {}", c.client_uri.as_deref().unwrap_or("-"));
    println!("scope:         {}", c.scope);
    for origin in &c.allowed_origins {
        println!("CORS origin:   {origin}");
    }
    println!("grant types:   {}", c.grant_types.join(" "));
    println!(
        "introspects:   {}",
        if c.may_introspect {
            "every token (allowed by the operator)"
        } else {
            "only its own tokens"
        }
    );
    if c.redirect_uris.is_empty() && c.grant_types.iter().any(|g| g == "authorization_code") {
        println!("redirect URIs: (none: codes are shown on screen)");
    } else if c.redirect_uris.is_empty() {
        println!("redirect URIs: (none)");
    }
    for uri in &c.redirect_uris {
        println!("redirect URI:  {uri}");
    }
    println!("created:       {}", format_utc(c.created_at));
}

fn print_issued(issued: &admin::IssuedClient, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(issued);
    }
    print_client(&issued.client);
    if let Some(secret) = &issued.client_secret {
        println!("client_secret: {secret}");
        eprintln!("oauthd: the client secret is shown only this once; store it now");
    }
    Ok(())
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Runtime(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// The password from stdin (`--password-stdin`) or typed twice at a terminal.
fn read_password(args: &PasswordArgs) -> Result<String, Failure> {
    if args.password_stdin {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .map_err(|e| Failure::Usage(format!("cannot read the password from stdin: {e}")))?;
        let line = input.lines().next().unwrap_or("");
        return Ok(line.to_owned());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(
            "stdin is not a terminal: pass --password-stdin to read the password from it".into(),
        ));
    }
    let first = rpassword::prompt_password("Password: ")
        .map_err(|e| Failure::Runtime(format!("cannot read the password: {e}")))?;
    let second = rpassword::prompt_password("Password again: ")
        .map_err(|e| Failure::Runtime(format!("cannot read the password: {e}")))?;
    if first != second {
        return Err(Failure::Usage("the passwords do not match".into()));
    }
    Ok(first)
}
