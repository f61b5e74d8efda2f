//! XenAPI login credentials. The password is held in a type whose `Debug` and `Display` never
//! show it; code that needs the text calls [`Password::expose`] explicitly.

use std::fmt;

/// A password that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }

    /// The password text, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A XenAPI user name and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name, e.g. `root`.
    pub username: String,
    /// The password.
    pub password: Password,
}

impl Credentials {
    /// Builds credentials.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: Password::new(password),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let c = Credentials::new("root", "s3cr3t-pw");
        let shown = format!("{c:?} {} {:?}", c.password, c.password);
        assert!(!shown.contains("s3cr3t-pw"), "{shown}");
        assert!(shown.contains("root"));
        assert_eq!(c.password.expose(), "s3cr3t-pw");
    }
}
