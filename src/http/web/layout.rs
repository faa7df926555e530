//! What the base layout shows on every page: the product, the logo, and who
//! is signed in (with the CSRF token the sign-out form needs).

use crate::config::Config;

/// The base layout's data; every page view struct holds one.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The operator's product name.
    pub product_name: String,
    /// The operator's logo, if any.
    pub logo_url: Option<String>,
    /// The signed-in user, if any.
    pub user: Option<SignedIn>,
}

/// The signed-in user as the layout shows them.
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// Their name.
    pub username: String,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: String,
    /// Whether they may manage every client.
    pub is_admin: bool,
}

impl Layout {
    /// The layout for someone not signed in.
    pub fn anonymous(config: &Config) -> Self {
        Self {
            product_name: config.ui.product_name.clone(),
            logo_url: config.ui.logo_url.clone(),
            user: None,
        }
    }

    /// Whether the product has its own name (shown beside "oauthd").
    pub fn branded(&self) -> bool {
        self.product_name != "oauthd"
    }
}
