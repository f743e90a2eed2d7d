//! Runtime validation shared by the spec types; mirrors the CRD schema rules.

use thiserror::Error;

/// Pattern enforced on AWS region fields by the CRD schema.
pub const REGION_PATTERN: &str = "^[a-z]{2}(-[a-z]+)+-[0-9]+$";

/// A spec that violates capt's rules.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    #[error("cannot specify both vpcTemplateRef and existingVpcId")]
    BothVpcSources,
    #[error("must specify either vpcTemplateRef or existingVpcId")]
    NoVpcSource,
    #[error("retainVpcOnDelete can only be set together with vpcTemplateRef")]
    RetainWithoutTemplate,
    #[error("{field}: {value:?} is not a valid AWS region")]
    InvalidRegion { field: &'static str, value: String },
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is immutable")]
    Immutable { field: &'static str },
    #[error("{field} must be at least {min}, got {value}")]
    TooSmall {
        field: &'static str,
        min: i64,
        value: i64,
    },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

/// Pattern of `CAPTControlPlane.spec.version`: what EKS and Cluster API users write.
pub const VERSION_PATTERN: &str = r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$";

/// A Kubernetes version as EKS takes it (`<major>.<minor>`) from what users write: `1.31`, `v1.31`
/// or `v1.31.2`. `None` for anything else.
pub fn eks_version(version: &str) -> Option<String> {
    let v = version.strip_prefix('v').unwrap_or(version);
    let parts: Vec<&str> = v.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit());
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(numeric) {
        return None;
    }
    let n = |p: &str| p.parse::<u32>().ok();
    Some(format!("{}.{}", n(parts[0])?, n(parts[1])?))
}

pub(crate) fn check_version(field: &'static str, value: &str) -> Result<(), ValidationError> {
    match eks_version(value) {
        Some(_) => Ok(()),
        None => Err(ValidationError::Invalid {
            field,
            message: format!(
                "{value:?} is not a Kubernetes version (expected 1.31, v1.31 or v1.31.2)"
            ),
        }),
    }
}

/// Whether `region` matches [`REGION_PATTERN`].
pub fn is_valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    if parts.len() < 3 {
        return false;
    }
    let (first, rest) = (parts[0], &parts[1..]);
    let (last, middle) = match rest.split_last() {
        Some(split) => split,
        None => return false,
    };
    let lower = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    first.len() == 2
        && lower(first)
        && middle.iter().all(|p| lower(p))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn check_region(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if is_valid_region(value) {
        Ok(())
    } else {
        Err(ValidationError::InvalidRegion {
            field,
            value: value.to_string(),
        })
    }
}

pub(crate) fn check_non_empty(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        Err(ValidationError::Empty { field })
    } else {
        Ok(())
    }
}

pub(crate) fn check_min(field: &'static str, value: i64, min: i64) -> Result<(), ValidationError> {
    if value < min {
        Err(ValidationError::TooSmall { field, min, value })
    } else {
        Ok(())
    }
}

/// `old` may only be replaced by an equal value.
pub(crate) fn check_unchanged<T: PartialEq>(
    field: &'static str,
    old: &T,
    new: &T,
) -> Result<(), ValidationError> {
    if old == new {
        Ok(())
    } else {
        Err(ValidationError::Immutable { field })
    }
}

/// Once set, `old` may not be changed or removed.
pub(crate) fn check_set_once<T: PartialEq>(
    field: &'static str,
    old: &Option<T>,
    new: &Option<T>,
) -> Result<(), ValidationError> {
    match (old, new) {
        (None, _) => Ok(()),
        (Some(o), Some(n)) if o == n => Ok(()),
        _ => Err(ValidationError::Immutable { field }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_regions_are_accepted() {
        for r in [
            "us-east-1",
            "us-west-2",
            "ap-northeast-1",
            "us-gov-west-1",
            "us-gov-east-1",
            "ap-southeast-5",
            "eu-central-2",
            "il-central-1",
            "mx-central-1",
            "cn-north-1",
            "cn-northwest-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "ca-west-1",
            "me-south-1",
            "sa-east-1",
            "af-south-1",
        ] {
            assert!(is_valid_region(r), "{r} should be valid");
        }
    }

    #[test]
    fn malformed_regions_are_rejected() {
        for r in [
            "",
            "us",
            "us-east",
            "us-east-",
            "-east-1",
            "US-EAST-1",
            "use-east-1",
            "us-east-1a",
            "us--east-1",
            "us-east-x",
            "us_east_1",
            "u-east-1",
            "us-ea5t-1",
            " us-east-1",
        ] {
            assert!(!is_valid_region(r), "{r:?} should be invalid");
        }
    }

    #[test]
    fn set_once_rules() {
        assert!(check_set_once("f", &None::<String>, &Some("a".into())).is_ok());
        assert!(check_set_once("f", &Some("a".to_string()), &Some("a".into())).is_ok());
        assert_eq!(
            check_set_once("f", &Some("a".to_string()), &None),
            Err(ValidationError::Immutable { field: "f" })
        );
        assert!(check_set_once("f", &Some("a".to_string()), &Some("b".into())).is_err());
    }
}
