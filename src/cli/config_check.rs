//! `oauthd config check`.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;

/// `oauthd config check`: the same loader and errors as `serve`, then the
/// effective values and the metadata document on stdout.
pub(super) fn config_check(file: Option<&Path>, json: bool) -> ExitCode {
    let (config, effective) = match Config::load_effective(file) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("oauthd: {e}");
            return ExitCode::from(2);
        }
    };
    let metadata = crate::http::oauth::metadata::build(&config);
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
            out!("{}", text.trim_end_matches('\n'));
            eprintln!("oauthd: the configuration is valid");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("oauthd: cannot print the configuration: {e}");
            ExitCode::from(1)
        }
    }
}
