//! A deterministic fake AWS account: the attributes of the resources and data sources tfsim models, derived
//! from the simulator seed, the account id, the region and the block's arguments (same inputs, same values,
//! across runs and restarts).

use hcl::Value;

use super::ca;
use super::diag::Diag;
use super::ids;

/// Name of the EC2 Spot service-linked role.
pub(crate) const SPOT_ROLE: &str = "AWSServiceRoleForEC2Spot";

/// The fake account.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub seed: u64,
    pub account_id: String,
    pub region: String,
    /// Whether the account already has [`SPOT_ROLE`].
    pub spot_role_exists: bool,
    /// Signing time of presigned tokens.
    pub signed_at: chrono::DateTime<chrono::Utc>,
}

/// Arguments of a block, evaluated.
pub(crate) type Args = hcl::Map<String, Value>;

/// Builds an object value from `(key, value)` pairs.
pub(crate) fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A list of strings.
pub(crate) fn strs(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(s.as_str())).collect())
}

/// The string argument `key`, if set.
pub(crate) fn arg<'a>(args: &'a Args, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

/// The string argument `key` of `block`, which terraform requires.
pub(crate) fn required<'a>(args: &'a Args, key: &str, block: &str) -> Result<&'a str, Diag> {
    arg(args, key).ok_or_else(|| {
        Diag::new(
            "Missing required argument",
            format!("The argument \"{key}\" is required, but no definition was found."),
        )
        .within(format!("in {block}"))
    })
}

/// The EKS API endpoint of cluster `name` in `region`.
pub fn eks_endpoint(seed: u64, name: &str, region: &str) -> String {
    let id = ids::hex(seed, &["eks-endpoint", region, name], 32).to_uppercase();
    format!("https://{id}.gr7.{region}.eks.amazonaws.com")
}

impl Account {
    /// `len` hex characters identifying `parts` in this account and region.
    pub(crate) fn id(&self, parts: &[&str], len: usize) -> String {
        let mut all = vec![self.account_id.as_str(), self.region.as_str()];
        all.extend_from_slice(parts);
        ids::hex(self.seed, &all, len)
    }

    pub(crate) fn arn(&self, service: &str, regional: bool, resource: &str) -> String {
        let region = if regional { self.region.as_str() } else { "" };
        format!("arn:aws:{service}:{region}:{}:{resource}", self.account_id)
    }

    /// The token `aws eks get-token` / `aws_eks_cluster_auth` returns for cluster `name`: a
    /// presigned STS GetCallerIdentity URL signed at the run's time, as Cluster API reads it (valid
    /// 15 minutes from `X-Amz-Date`).
    pub(crate) fn eks_token(&self, name: &str) -> String {
        crate::capisim::eks_token(name, &self.region, self.signed_at)
    }

    /// What EKS reports for cluster `name`: `(endpoint, base64 CA, OIDC issuer host)`.
    pub(crate) fn eks_cluster(&self, name: &str) -> Result<(String, String, String), Diag> {
        let endpoint = eks_endpoint(self.seed, name, &self.region);
        let ca = ca::generate_b64(self.seed, &[&self.account_id, &self.region, name])
            .map_err(|e| Diag::new("creating EKS Cluster", e.to_string()))?;
        let oidc = format!(
            "oidc.eks.{}.amazonaws.com/id/{}",
            self.region,
            self.id(&["oidc", name], 32).to_uppercase()
        );
        Ok((endpoint, ca, oidc))
    }

    fn roles(&self) -> Vec<String> {
        if self.spot_role_exists {
            vec![SPOT_ROLE.to_string()]
        } else {
            Vec::new()
        }
    }

    fn role_arn(&self, name: &str) -> String {
        if name == SPOT_ROLE {
            self.arn(
                "iam",
                false,
                &format!("role/aws-service-role/spot.amazonaws.com/{name}"),
            )
        } else {
            self.arn("iam", false, &format!("role/{name}"))
        }
    }

    fn role(&self, name: &str) -> Value {
        obj([
            ("arn", self.role_arn(name).into()),
            ("id", name.into()),
            ("name", name.into()),
            (
                "unique_id",
                format!("AROA{}", self.id(&["role", name], 17).to_uppercase()).into(),
            ),
        ])
    }

    fn eks_cluster_value(&self, name: &str, args: &Args) -> Result<Value, Diag> {
        let (endpoint, ca, oidc) = self.eks_cluster(name)?;
        let version = arg(args, "version").unwrap_or(super::outputs::DEFAULT_KUBERNETES_VERSION);
        Ok(obj([
            ("id", name.into()),
            ("name", name.into()),
            (
                "arn",
                self.arn("eks", true, &format!("cluster/{name}")).into(),
            ),
            ("endpoint", endpoint.into()),
            ("version", version.into()),
            ("platform_version", "eks.1".into()),
            ("status", "ACTIVE".into()),
            (
                "certificate_authority",
                Value::Array(vec![obj([("data", ca.into())])]),
            ),
            (
                "identity",
                Value::Array(vec![obj([(
                    "oidc",
                    Value::Array(vec![obj([("issuer", format!("https://{oidc}").into())])]),
                )])]),
            ),
            (
                "vpc_config",
                Value::Array(vec![obj([(
                    "cluster_security_group_id",
                    format!("sg-{}", self.id(&["cluster-sg", name], 17)).into(),
                )])]),
            ),
        ]))
    }

    /// Attributes of resource `kind` (`None`: a type tfsim does not model).
    pub(crate) fn resource(
        &self,
        kind: &str,
        name: &str,
        args: &Args,
    ) -> Option<Result<Value, Diag>> {
        let block = format!("resource \"{kind}\" \"{name}\"");
        Some(match kind {
            "aws_iam_service_linked_role" => {
                required(args, "aws_service_name", &block).map(|service| {
                    let role = service_role_name(service, arg(args, "custom_suffix"));
                    let arn = self.arn(
                        "iam",
                        false,
                        &format!("role/aws-service-role/{service}/{role}"),
                    );
                    obj([
                        ("arn", arn.clone().into()),
                        ("id", arn.into()),
                        ("name", role.clone().into()),
                        ("aws_service_name", service.into()),
                        ("path", format!("/aws-service-role/{service}/").into()),
                        (
                            "unique_id",
                            format!("AROA{}", self.id(&["role", &role], 17).to_uppercase()).into(),
                        ),
                    ])
                })
            }
            "aws_iam_role" => required(args, "name", &block).map(|n| self.role(n)),
            "aws_eks_cluster" => {
                required(args, "name", &block).and_then(|n| self.eks_cluster_value(n, args))
            }
            "aws_vpc" => {
                let cidr = arg(args, "cidr_block").unwrap_or("10.0.0.0/16");
                let id = format!("vpc-{}", self.id(&["vpc", name, cidr], 17));
                Ok(obj([
                    ("arn", self.arn("ec2", true, &format!("vpc/{id}")).into()),
                    ("id", id.into()),
                    ("cidr_block", cidr.into()),
                    (
                        "default_security_group_id",
                        format!("sg-{}", self.id(&["vpc-sg", name, cidr], 17)).into(),
                    ),
                    ("owner_id", self.account_id.clone().into()),
                ]))
            }
            "aws_subnet" => {
                let vpc = required(args, "vpc_id", &block);
                vpc.map(|vpc| {
                    let cidr = arg(args, "cidr_block").unwrap_or_default();
                    let id = format!("subnet-{}", self.id(&["subnet", vpc, cidr], 17));
                    obj([
                        ("arn", self.arn("ec2", true, &format!("subnet/{id}")).into()),
                        ("id", id.into()),
                        ("vpc_id", vpc.into()),
                        ("cidr_block", cidr.into()),
                        (
                            "availability_zone",
                            arg(args, "availability_zone")
                                .map_or_else(|| format!("{}a", self.region), str::to_string)
                                .into(),
                        ),
                    ])
                })
            }
            _ => return None,
        })
    }

    /// Attributes of data source `kind` (`None`: a type tfsim does not model).
    pub(crate) fn data(&self, kind: &str, name: &str, args: &Args) -> Option<Result<Value, Diag>> {
        let block = format!("data \"{kind}\" \"{name}\"");
        let r = &self.region;
        Some(match kind {
            "aws_availability_zones" => {
                let zones: Vec<String> =
                    ["a", "b", "c"].iter().map(|z| format!("{r}{z}")).collect();
                Ok(obj([
                    ("id", r.as_str().into()),
                    ("names", strs(&zones)),
                    (
                        "zone_ids",
                        strs(
                            &(1..=3)
                                .map(|i| format!("{}-az{i}", &r[..r.len().min(6)]))
                                .collect::<Vec<_>>(),
                        ),
                    ),
                ]))
            }
            "aws_region" => Ok(obj([
                ("id", r.as_str().into()),
                ("name", r.as_str().into()),
                ("region", r.as_str().into()),
                ("endpoint", format!("ec2.{r}.amazonaws.com").into()),
            ])),
            "aws_caller_identity" => Ok(obj([
                ("id", self.account_id.clone().into()),
                ("account_id", self.account_id.clone().into()),
                ("arn", self.arn("iam", false, "user/capt").into()),
                (
                    "user_id",
                    format!("AIDA{}", self.id(&["user"], 17).to_uppercase()).into(),
                ),
            ])),
            "aws_partition" => Ok(obj([
                ("id", "aws".into()),
                ("partition", "aws".into()),
                ("dns_suffix", "amazonaws.com".into()),
            ])),
            "aws_iam_roles" => {
                let pattern = arg(args, "name_regex").unwrap_or(".*");
                regex::Regex::new(pattern)
                    .map_err(|e| {
                        Diag::new("Invalid value for \"name_regex\"", e.to_string()).within(block)
                    })
                    .map(|re| {
                        let names: Vec<String> = self
                            .roles()
                            .into_iter()
                            .filter(|n| re.is_match(n))
                            .collect();
                        let arns: Vec<String> = names.iter().map(|n| self.role_arn(n)).collect();
                        obj([
                            ("id", r.as_str().into()),
                            ("names", strs(&names)),
                            ("arns", strs(&arns)),
                        ])
                    })
            }
            "aws_iam_role" => required(args, "name", &block).and_then(|n| {
                if n == SPOT_ROLE && !self.spot_role_exists {
                    Err(Diag::new(
                        format!("reading IAM Role ({n}): couldn't find resource"),
                        format!("with {block}"),
                    ))
                } else {
                    Ok(self.role(n))
                }
            }),
            "aws_eks_cluster" => {
                required(args, "name", &block).and_then(|n| self.eks_cluster_value(n, args))
            }
            "aws_eks_cluster_auth" => required(args, "name", &block).map(|n| {
                obj([
                    ("id", n.into()),
                    ("name", n.into()),
                    ("token", self.eks_token(n).into()),
                ])
            }),
            "external" => Ok(obj([("id", "-".into()), ("result", self.external(args))])),
            _ => return None,
        })
    }

    /// `data "external"`: a program running `aws eks get-token --cluster-name NAME` yields `{token}`; any other
    /// program yields an empty result.
    fn external(&self, args: &Args) -> Value {
        let program: Vec<&str> = args
            .get("program")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let words: Vec<&str> = program.iter().flat_map(|p| p.split_whitespace()).collect();
        let cluster = words
            .windows(2)
            .find(|w| w[0] == "--cluster-name")
            .map(|w| w[1]);
        match cluster {
            Some(name) if words.contains(&"get-token") => {
                obj([("token", self.eks_token(name).into())])
            }
            _ => Value::Object(hcl::Map::new()),
        }
    }
}

/// The role name AWS gives a service-linked role for `service`.
fn service_role_name(service: &str, suffix: Option<&str>) -> String {
    let base = match service {
        "spot.amazonaws.com" => SPOT_ROLE.to_string(),
        "eks.amazonaws.com" => "AWSServiceRoleForAmazonEKS".to_string(),
        "autoscaling.amazonaws.com" => "AWSServiceRoleForAutoScaling".to_string(),
        other => {
            let head = other.split('.').next().unwrap_or(other);
            let mut c = head.chars();
            let cap: String = c
                .next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default();
            format!("AWSServiceRoleFor{cap}")
        }
    };
    match suffix {
        Some(s) if !s.is_empty() => format!("{base}_{s}"),
        _ => base,
    }
}
