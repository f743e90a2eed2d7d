//! The kinds capt watches, declared once: their names, where their API lives, and which
//! controller group watches and reconciles them. The runtimes, the routes, the sync gate and the
//! RBAC test all read this table, so a kind added here is added everywhere, and a misspelt kind
//! is a compile error rather than events silently dropped.

/// Which controller groups run (upstream's `--enable-controller`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Controllers {
    pub infrastructure: bool,
    pub control_plane: bool,
}

impl Default for Controllers {
    fn default() -> Self {
        Self {
            infrastructure: true,
            control_plane: true,
        }
    }
}

/// The controller groups a kind is needed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Both groups (read by each of them).
    Any,
    Infrastructure,
    ControlPlane,
}

impl Group {
    /// Whether `c` runs a controller group this kind is needed by.
    pub const fn enabled(self, c: Controllers) -> bool {
        match self {
            Self::Any => true,
            Self::Infrastructure => c.infrastructure,
            Self::ControlPlane => c.control_plane,
        }
    }
}

/// A kind capt watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    CaptCluster,
    CaptControlPlane,
    WorkspaceTemplateApply,
    WorkspaceTemplate,
    Workspace,
    Cluster,
    Secret,
    WorkspaceTemplateGrant,
    CaptClusterTemplate,
    CaptControlPlaneTemplate,
}

/// What the table says of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindInfo {
    /// The API kind (as in `kind:` and owner references).
    pub name: &'static str,
    pub api_group: &'static str,
    pub plural: &'static str,
    /// The groups that watch it (an infrastructure-only install has no control-plane CRDs).
    pub watched_by: Group,
    /// The group that reconciles it, if it has its own reconciler.
    pub reconciled_by: Option<Group>,
}

const INFRA: &str = "infrastructure.cluster.x-k8s.io";
const CONTROL_PLANE: &str = "controlplane.cluster.x-k8s.io";

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::CaptCluster,
        Kind::CaptControlPlane,
        Kind::WorkspaceTemplateApply,
        Kind::WorkspaceTemplate,
        Kind::Workspace,
        Kind::Cluster,
        Kind::Secret,
        Kind::WorkspaceTemplateGrant,
        Kind::CaptClusterTemplate,
        Kind::CaptControlPlaneTemplate,
    ];

    /// The table row of this kind.
    pub const fn info(self) -> KindInfo {
        use Group::*;
        let (name, api_group, plural, watched_by, reconciled_by) = match self {
            Kind::CaptCluster => (
                "CAPTCluster",
                INFRA,
                "captclusters",
                Any,
                Some(Infrastructure),
            ),
            Kind::CaptControlPlane => (
                "CAPTControlPlane",
                CONTROL_PLANE,
                "captcontrolplanes",
                ControlPlane,
                Some(ControlPlane),
            ),
            Kind::WorkspaceTemplateApply => (
                "WorkspaceTemplateApply",
                INFRA,
                "workspacetemplateapplies",
                Any,
                Some(Infrastructure),
            ),
            Kind::WorkspaceTemplate => (
                "WorkspaceTemplate",
                INFRA,
                "workspacetemplates",
                Any,
                Some(Infrastructure),
            ),
            Kind::Workspace => ("Workspace", "tf.upbound.io", "workspaces", Any, None),
            Kind::Cluster => ("Cluster", "cluster.x-k8s.io", "clusters", Any, None),
            Kind::Secret => ("Secret", "", "secrets", Any, None),
            Kind::WorkspaceTemplateGrant => (
                "WorkspaceTemplateGrant",
                INFRA,
                "workspacetemplategrants",
                Any,
                None,
            ),
            Kind::CaptClusterTemplate => (
                "CAPTClusterTemplate",
                INFRA,
                "captclustertemplates",
                Infrastructure,
                Some(Infrastructure),
            ),
            Kind::CaptControlPlaneTemplate => (
                "CaptControlPlaneTemplate",
                CONTROL_PLANE,
                "captcontrolplanetemplates",
                ControlPlane,
                Some(ControlPlane),
            ),
        };
        KindInfo {
            name,
            api_group,
            plural,
            watched_by,
            reconciled_by,
        }
    }

    /// The API kind name.
    pub const fn name(self) -> &'static str {
        self.info().name
    }

    /// The kind called `name`, if capt watches it.
    pub fn parse(name: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether `c` watches this kind.
    pub const fn watched(self, c: Controllers) -> bool {
        self.info().watched_by.enabled(c)
    }

    /// Whether `c` reconciles this kind.
    pub const fn reconciled(self, c: Controllers) -> bool {
        match self.info().reconciled_by {
            Some(g) => g.enabled(c),
            None => false,
        }
    }

    /// Whether this kind has its own reconciler (in some controller group).
    pub const fn has_reconciler(self) -> bool {
        self.info().reconciled_by.is_some()
    }

    /// The names of the kinds `c` watches (and the sync gate waits for).
    pub fn watched_names(c: Controllers) -> Vec<&'static str> {
        Self::ALL
            .into_iter()
            .filter(|k| k.watched(c))
            .map(Kind::name)
            .collect()
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        CAPTCluster, CAPTClusterTemplate, CAPTControlPlane, CaptControlPlaneTemplate, Cluster,
        Workspace, WorkspaceTemplate, WorkspaceTemplateApply, WorkspaceTemplateGrant,
    };
    use k8s_openapi::api::core::v1::Secret;
    use kube::Resource;

    fn of<K: Resource<DynamicType = ()>>() -> (String, String, String) {
        (
            K::kind(&()).into_owned(),
            K::group(&()).into_owned(),
            K::plural(&()).into_owned(),
        )
    }

    #[test]
    fn the_table_matches_the_api_types() {
        let types = [
            (Kind::CaptCluster, of::<CAPTCluster>()),
            (Kind::CaptControlPlane, of::<CAPTControlPlane>()),
            (Kind::WorkspaceTemplateApply, of::<WorkspaceTemplateApply>()),
            (Kind::WorkspaceTemplate, of::<WorkspaceTemplate>()),
            (Kind::Workspace, of::<Workspace>()),
            (Kind::Cluster, of::<Cluster>()),
            (Kind::Secret, of::<Secret>()),
            (Kind::WorkspaceTemplateGrant, of::<WorkspaceTemplateGrant>()),
            (Kind::CaptClusterTemplate, of::<CAPTClusterTemplate>()),
            (
                Kind::CaptControlPlaneTemplate,
                of::<CaptControlPlaneTemplate>(),
            ),
        ];
        assert_eq!(types.len(), Kind::ALL.len());
        for (kind, (name, group, plural)) in types {
            let i = kind.info();
            assert_eq!((i.name, i.api_group, i.plural), (&*name, &*group, &*plural));
            assert_eq!(Kind::parse(&name), Some(kind));
        }
        assert_eq!(Kind::parse("Deployment"), None);
    }

    #[test]
    fn an_infrastructure_only_install_watches_no_control_plane_kinds() {
        let infra = Controllers {
            infrastructure: true,
            control_plane: false,
        };
        let names = Kind::watched_names(infra);
        assert!(names.contains(&"CAPTCluster") && names.contains(&"CAPTClusterTemplate"));
        assert!(!names.contains(&"CAPTControlPlane"));
        assert!(!names.contains(&"CaptControlPlaneTemplate"));
        assert!(Kind::CaptCluster.reconciled(infra));
        assert!(!Kind::CaptControlPlane.reconciled(infra));
        let cp = Controllers {
            infrastructure: false,
            control_plane: true,
        };
        // The control plane reads CAPTClusters (its VPC dependency) without reconciling them.
        assert!(Kind::CaptCluster.watched(cp) && !Kind::CaptCluster.reconciled(cp));
        assert!(!Kind::CaptClusterTemplate.watched(cp));
        assert_eq!(Kind::watched_names(Controllers::default()).len(), 10);
    }
}
