//! The `oauthd` command; everything it does is in `oauthd::cli`.

fn main() -> std::process::ExitCode {
    oauthd::cli::main()
}
