//! The registry modules tfsim models (their outputs, computed by the fake account from the module's inputs).

use hcl::Value;

use super::aws::{Account, Args, arg, obj, required, strs};
use super::diag::Diag;

/// A module tfsim can install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModuleKind {
    /// `terraform-aws-modules/eks/aws`.
    Eks,
    /// `terraform-aws-modules/eks/aws//modules/karpenter`.
    Karpenter,
    /// `terraform-aws-modules/vpc/aws`.
    Vpc,
}

/// The module sources tfsim recognises (registry addresses; git and GitHub URLs of the same repositories
/// are recognised too).
pub(crate) const KNOWN_SOURCES: &str = "terraform-aws-modules/eks/aws, terraform-aws-modules/eks/aws//modules/karpenter, terraform-aws-modules/vpc/aws";

impl ModuleKind {
    /// The module a source address (registry, `git::`, GitHub URL) points at.
    pub(crate) fn from_source(source: &str) -> Option<ModuleKind> {
        // `//` marks a sub-directory; the one of a URL scheme (`https://`) does not.
        let s = source.to_ascii_lowercase().replace("://", ":/");
        let eks = s.contains("terraform-aws-modules/eks/aws")
            || s.contains("terraform-aws-modules/terraform-aws-eks");
        let vpc = s.contains("terraform-aws-modules/vpc/aws")
            || s.contains("terraform-aws-modules/terraform-aws-vpc");
        if eks && s.contains("//modules/karpenter") {
            Some(ModuleKind::Karpenter)
        } else if eks && !s.contains("//") {
            Some(ModuleKind::Eks)
        } else if vpc && !s.contains("//") {
            Some(ModuleKind::Vpc)
        } else {
            None
        }
    }
}

fn list(args: &Args, key: &str) -> Vec<String> {
    args.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Account {
    /// The outputs of module `kind` called as `module "<name>"` with `inputs`.
    pub(crate) fn module(
        &self,
        kind: ModuleKind,
        name: &str,
        inputs: &Args,
    ) -> Result<Value, Diag> {
        let block = format!("module \"{name}\"");
        match kind {
            ModuleKind::Eks => self.eks_module(required(inputs, "cluster_name", &block)?, inputs),
            ModuleKind::Karpenter => {
                Ok(self.karpenter_module(required(inputs, "cluster_name", &block)?, inputs))
            }
            ModuleKind::Vpc => Ok(self.vpc_module(inputs)),
        }
    }

    fn eks_module(&self, cluster: &str, inputs: &Args) -> Result<Value, Diag> {
        let (endpoint, ca, oidc) = self.eks_cluster(cluster)?;
        let version =
            arg(inputs, "cluster_version").unwrap_or(super::outputs::DEFAULT_KUBERNETES_VERSION);
        let sg = |what: &str| format!("sg-{}", self.id(&[what, cluster], 17));
        let role = format!("{cluster}-cluster");
        Ok(obj([
            ("cluster_name", cluster.into()),
            (
                "cluster_arn",
                self.arn("eks", true, &format!("cluster/{cluster}")).into(),
            ),
            ("cluster_endpoint", endpoint.into()),
            ("cluster_certificate_authority_data", ca.into()),
            ("cluster_version", version.into()),
            ("cluster_platform_version", "eks.1".into()),
            ("cluster_status", "ACTIVE".into()),
            ("cluster_security_group_id", sg("cluster-sg").into()),
            ("cluster_primary_security_group_id", sg("primary-sg").into()),
            ("node_security_group_id", sg("node-sg").into()),
            ("cluster_oidc_issuer_url", format!("https://{oidc}").into()),
            ("oidc_provider", oidc.clone().into()),
            (
                "oidc_provider_arn",
                self.arn("iam", false, &format!("oidc-provider/{oidc}"))
                    .into(),
            ),
            ("cluster_iam_role_name", role.clone().into()),
            (
                "cluster_iam_role_arn",
                self.arn("iam", false, &format!("role/{role}")).into(),
            ),
            ("cluster_service_cidr", "172.20.0.0/16".into()),
        ]))
    }

    fn karpenter_module(&self, cluster: &str, inputs: &Args) -> Value {
        let role = arg(inputs, "iam_role_name")
            .map_or_else(|| format!("KarpenterController-{cluster}"), str::to_string);
        let node_role = arg(inputs, "node_iam_role_name")
            .map_or_else(|| format!("KarpenterNodeRole-{cluster}"), str::to_string);
        let queue = arg(inputs, "queue_name")
            .map_or_else(|| format!("Karpenter-{cluster}"), str::to_string);
        obj([
            ("iam_role_name", role.clone().into()),
            (
                "iam_role_arn",
                self.arn("iam", false, &format!("role/{role}")).into(),
            ),
            ("node_iam_role_name", node_role.clone().into()),
            (
                "node_iam_role_arn",
                self.arn("iam", false, &format!("role/{node_role}")).into(),
            ),
            ("queue_name", queue.clone().into()),
            ("queue_arn", self.arn("sqs", true, &queue).into()),
            (
                "queue_url",
                format!(
                    "https://sqs.{}.amazonaws.com/{}/{queue}",
                    self.region, self.account_id
                )
                .into(),
            ),
        ])
    }

    fn vpc_module(&self, inputs: &Args) -> Value {
        let name = arg(inputs, "name").unwrap_or_default();
        let cidr = arg(inputs, "cidr").unwrap_or("10.0.0.0/16");
        let vpc_id = format!("vpc-{}", self.id(&["vpc", name, cidr], 17));
        let subnets = |kind: &str| -> (Vec<String>, Vec<String>) {
            let cidrs = list(inputs, &format!("{kind}_subnets"));
            let ids = cidrs
                .iter()
                .map(|c| format!("subnet-{}", self.id(&["subnet", &vpc_id, c], 17)))
                .collect();
            (ids, cidrs)
        };
        let (private, private_cidrs) = subnets("private");
        let (public, public_cidrs) = subnets("public");
        let arns = |ids: &[String]| -> Vec<String> {
            ids.iter()
                .map(|i| self.arn("ec2", true, &format!("subnet/{i}")))
                .collect()
        };
        let nat = inputs
            .get("enable_nat_gateway")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let natgw: Vec<String> = if nat {
            vec![format!("nat-{}", self.id(&["nat", &vpc_id], 17))]
        } else {
            Vec::new()
        };
        let igw: Value = if public.is_empty() {
            Value::Null
        } else {
            format!("igw-{}", self.id(&["igw", &vpc_id], 17)).into()
        };
        obj([
            ("name", name.into()),
            ("vpc_id", vpc_id.clone().into()),
            (
                "vpc_arn",
                self.arn("ec2", true, &format!("vpc/{vpc_id}")).into(),
            ),
            ("vpc_cidr_block", cidr.into()),
            ("azs", strs(&list(inputs, "azs"))),
            ("private_subnets", strs(&private)),
            ("private_subnet_arns", strs(&arns(&private))),
            ("private_subnets_cidr_blocks", strs(&private_cidrs)),
            ("public_subnets", strs(&public)),
            ("public_subnet_arns", strs(&arns(&public))),
            ("public_subnets_cidr_blocks", strs(&public_cidrs)),
            ("natgw_ids", strs(&natgw)),
            ("igw_id", igw),
            (
                "default_security_group_id",
                format!("sg-{}", self.id(&["vpc-sg", &vpc_id], 17)).into(),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_sources() {
        use ModuleKind::*;
        assert_eq!(
            ModuleKind::from_source("terraform-aws-modules/eks/aws"),
            Some(Eks)
        );
        assert_eq!(
            ModuleKind::from_source("terraform-aws-modules/eks/aws//modules/karpenter"),
            Some(Karpenter)
        );
        assert_eq!(
            ModuleKind::from_source(
                "git::https://github.com/terraform-aws-modules/terraform-aws-eks.git?ref=v20.8.5"
            ),
            Some(Eks)
        );
        assert_eq!(
            ModuleKind::from_source("registry.terraform.io/terraform-aws-modules/vpc/aws"),
            Some(Vpc)
        );
        assert_eq!(
            ModuleKind::from_source("terraform-aws-modules/iam/aws"),
            None
        );
        assert_eq!(ModuleKind::from_source("./modules/eks"), None);
    }
}
