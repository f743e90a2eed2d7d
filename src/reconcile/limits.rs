//! Names capt derives from user-chosen names (`<name>-vpc`, `<name>-eks-controlplane-apply`, a
//! Workspace name with a namespace suffix) must still be valid object names: at most 253
//! characters. A derived name that is too long is reported instead of failing at the API server.

/// Longest object name the API server accepts (a DNS-1123 subdomain).
pub const MAX_NAME_LEN: usize = 253;

/// Condition and Event reason of a derived name that is too long.
pub const NAME_TOO_LONG: &str = "NameTooLong";

/// Why the `kind` named `name` cannot be created, if its name is too long. The message shows the
/// name's start only.
pub fn name_too_long(kind: &str, name: &str) -> Option<String> {
    (name.len() > MAX_NAME_LEN).then(|| {
        let start: String = name.chars().take(40).collect();
        format!(
            "the {kind} name {start}… would be {} characters, more than the {MAX_NAME_LEN} allowed; \
             use a shorter name or set spec.workspaceTemplateApplyName",
            name.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_at_and_over_the_limit() {
        let table = [
            (1, false),
            (252, false),
            (253, false),
            (254, true),
            (600, true),
        ];
        for (len, too_long) in table {
            let name = "a".repeat(len);
            let got = name_too_long("WorkspaceTemplateApply", &name);
            assert_eq!(got.is_some(), too_long, "{len}");
            if let Some(msg) = got {
                assert!(msg.contains(&format!("{len} characters")), "{msg}");
                assert!(
                    msg.len() < 300,
                    "the message does not repeat the whole name"
                );
            }
        }
        // Multi-byte names are counted in bytes (as the API server does) and cut on a character.
        let msg = name_too_long("x", &"é".repeat(200)).expect("400 bytes");
        assert!(msg.contains("400 characters"));
    }
}
