//! The listed objects indexed by name, and which Cluster API cluster each one belongs to.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

use super::Snapshot;
use super::names as n;
use super::object::Obj;

/// `(namespace, name)`.
pub type Key<'a> = (&'a str, &'a str);

/// Per Cluster API cluster (`namespace/name`): a hash of the resourceVersions of every object
/// that belongs to it. Equal fingerprints in two snapshots: nothing of that cluster changed.
pub type Fingerprints = BTreeMap<String, u64>;

/// The snapshot, indexed.
pub struct Index<'a> {
    pub clusters: BTreeMap<Key<'a>, Obj<'a>>,
    pub capt_clusters: BTreeMap<Key<'a>, Obj<'a>>,
    pub control_planes: BTreeMap<Key<'a>, Obj<'a>>,
    pub applies: BTreeMap<Key<'a>, Obj<'a>>,
    /// Workspaces are cluster-scoped: by name.
    pub workspaces: BTreeMap<&'a str, Obj<'a>>,
    pub templates: BTreeSet<Key<'a>>,
    pub secrets: BTreeMap<Key<'a>, Obj<'a>>,
    /// CAPTCluster key → the Cluster whose `infrastructureRef` names it.
    pub infra_of: BTreeMap<Key<'a>, Key<'a>>,
    /// CAPTControlPlane key → the Cluster whose `controlPlaneRef` names it.
    pub control_plane_of: BTreeMap<Key<'a>, Key<'a>>,
    /// Cluster key → the CAPTCluster and CAPTControlPlane it references.
    refs: BTreeMap<Key<'a>, (Option<Key<'a>>, Option<Key<'a>>)>,
}

fn by_key(items: &[serde_json::Value]) -> BTreeMap<Key<'_>, Obj<'_>> {
    items
        .iter()
        .map(Obj)
        .map(|o| ((o.namespace(), o.name()), o))
        .collect()
}

/// The namespace/name a Cluster's reference at `pointer` names, when it is of `kind` in `group`.
fn reference<'a>(cluster: Obj<'a>, pointer: &str, group: &str, kind: &str) -> Option<Key<'a>> {
    let r = cluster.0.pointer(pointer)?;
    let api_version = r.get("apiVersion")?.as_str()?;
    if r.get("kind")?.as_str()? != kind || api_version.split('/').next() != Some(group) {
        return None;
    }
    let ns = r
        .get("namespace")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(cluster.namespace());
    Some((ns, r.get("name")?.as_str()?))
}

/// The apply a capt Workspace names as its owner: the owner annotation
/// (`WorkspaceTemplateApply/<ns>/<name>`), else the labels. `None`: not created by capt.
pub fn workspace_apply<'a>(ws: Obj<'a>) -> Option<Key<'a>> {
    if let Some(a) = ws.annotation(n::WORKSPACE_OWNER_ANNOTATION) {
        let mut parts = a.splitn(3, '/');
        if let (Some("WorkspaceTemplateApply"), Some(ns), Some(name)) =
            (parts.next(), parts.next(), parts.next())
        {
            return Some((ns, name));
        }
    }
    let ns = ws.label(n::APPLY_NAMESPACE_LABEL)?;
    let name = ws.label(n::APPLY_NAME_LABEL)?;
    Some((ns, name))
}

/// Whether a Workspace carries capt's marks at all.
pub fn is_capt_workspace(ws: Obj<'_>) -> bool {
    workspace_apply(ws).is_some() || ws.label(n::MANAGED_BY_LABEL) == Some(n::MANAGED_BY_VALUE)
}

impl<'a> Index<'a> {
    pub fn build(s: &'a Snapshot) -> Self {
        let clusters = by_key(&s.clusters);
        let mut infra_of = BTreeMap::new();
        let mut control_plane_of = BTreeMap::new();
        let mut refs = BTreeMap::new();
        for (k, c) in &clusters {
            let infra = reference(
                *c,
                "/spec/infrastructureRef",
                n::INFRASTRUCTURE_GROUP,
                "CAPTCluster",
            );
            let cp = reference(
                *c,
                "/spec/controlPlaneRef",
                n::CONTROL_PLANE_GROUP,
                "CAPTControlPlane",
            );
            if let Some(r) = infra {
                infra_of.insert(r, *k);
            }
            if let Some(r) = cp {
                control_plane_of.insert(r, *k);
            }
            refs.insert(*k, (infra, cp));
        }
        Index {
            clusters,
            capt_clusters: by_key(&s.capt_clusters),
            control_planes: by_key(&s.control_planes),
            applies: by_key(&s.applies),
            workspaces: s
                .workspaces
                .iter()
                .map(Obj)
                .map(|o| (o.name(), o))
                .collect(),
            templates: s
                .templates
                .iter()
                .map(Obj)
                .map(|o| (o.namespace(), o.name()))
                .collect(),
            secrets: by_key(&s.secrets),
            infra_of,
            control_plane_of,
            refs,
        }
    }

    /// The CAPTCluster the Cluster `ns/name` references: its key, and the object when it exists.
    pub fn infra_of_cluster(
        &self,
        ns: &'a str,
        name: &'a str,
    ) -> (Option<Key<'a>>, Option<Obj<'a>>) {
        let key = self.refs.get(&(ns, name)).and_then(|r| r.0);
        (key, key.and_then(|k| self.capt_clusters.get(&k).copied()))
    }

    /// The CAPTControlPlane the Cluster `ns/name` references: its key, and the object when it exists.
    pub fn control_plane_of_cluster(
        &self,
        ns: &'a str,
        name: &'a str,
    ) -> (Option<Key<'a>>, Option<Obj<'a>>) {
        let key = self.refs.get(&(ns, name)).and_then(|r| r.1);
        (key, key.and_then(|k| self.control_planes.get(&k).copied()))
    }

    pub fn has_template(&self, ns: &'a str, name: &'a str) -> bool {
        self.templates.contains(&(ns, name))
    }

    /// The cluster of a CAPTCluster or CAPTControlPlane: the Cluster that references it, else
    /// its Cluster ownerReference.
    pub fn cluster_of_owner(&self, kind: &str, obj: Obj<'a>) -> Option<Key<'a>> {
        let key = (obj.namespace(), obj.name());
        let referenced = match kind {
            "CAPTCluster" => self.infra_of.get(&key),
            _ => self.control_plane_of.get(&key),
        };
        referenced.copied().or_else(|| {
            obj.owner_of_kind(n::CLUSTER_API_GROUP, "Cluster")
                .map(|o| (obj.namespace(), o.name))
        })
    }

    /// The CAPTCluster or CAPTControlPlane that controls `obj` (an apply or a secret), with its kind.
    pub fn controlling(&self, obj: Obj<'a>) -> Option<(&'static str, Obj<'a>)> {
        let o = obj.controller()?;
        let key = (obj.namespace(), o.name);
        match (o.group(), o.kind) {
            (n::INFRASTRUCTURE_GROUP, "CAPTCluster") => {
                Some(("CAPTCluster", *self.capt_clusters.get(&key)?))
            }
            (n::CONTROL_PLANE_GROUP, "CAPTControlPlane") => {
                Some(("CAPTControlPlane", *self.control_planes.get(&key)?))
            }
            _ => None,
        }
    }

    /// The cluster an apply, Workspace or Secret belongs to, through its owners.
    fn cluster_of_child(&self, obj: Obj<'a>) -> Option<Key<'a>> {
        if let Some((kind, owner)) = self.controlling(obj) {
            return self.cluster_of_owner(kind, owner);
        }
        if let Some(apply) = workspace_apply(obj).and_then(|k| self.applies.get(&k)) {
            return self.cluster_of_child(*apply);
        }
        let ws = obj.owner_of_kind(n::TERRAFORM_GROUP, "Workspace")?;
        self.cluster_of_child(*self.workspaces.get(ws.name)?)
    }

    /// Every object that belongs to a cluster, by cluster.
    pub fn members(&self) -> BTreeMap<Key<'a>, Vec<(&'static str, Obj<'a>)>> {
        let mut m: BTreeMap<Key<'a>, Vec<(&'static str, Obj<'a>)>> = BTreeMap::new();
        for (k, c) in &self.clusters {
            m.entry(*k).or_default().push(("Cluster", *c));
        }
        for (kind, objs) in [
            ("CAPTCluster", &self.capt_clusters),
            ("CAPTControlPlane", &self.control_planes),
        ] {
            for o in objs.values() {
                if let Some(c) = self.cluster_of_owner(kind, *o) {
                    m.entry(c).or_default().push((kind, *o));
                }
            }
        }
        let children = self
            .applies
            .values()
            .map(|o| ("WorkspaceTemplateApply", *o))
            .chain(self.workspaces.values().map(|o| ("Workspace", *o)))
            .chain(self.secrets.values().map(|o| ("Secret", *o)));
        for (kind, o) in children {
            if let Some(c) = self.cluster_of_child(o) {
                m.entry(c).or_default().push((kind, o));
            }
        }
        m
    }
}

/// The fingerprints of every existing cluster in `s`.
pub fn fingerprints(s: &Snapshot) -> Fingerprints {
    Index::build(s).fingerprints()
}

impl Index<'_> {
    /// The fingerprints of every existing cluster.
    pub fn fingerprints(&self) -> Fingerprints {
        self.members()
            .into_iter()
            .filter(|(k, _)| self.clusters.contains_key(k))
            .map(|((ns, name), objs)| {
                let mut rows: Vec<(&str, &str, &str, &str)> = objs
                    .iter()
                    .map(|(kind, o)| (*kind, o.namespace(), o.name(), o.resource_version()))
                    .collect();
                rows.sort_unstable();
                let mut h = DefaultHasher::new();
                rows.hash(&mut h);
                (super::object::path(ns, name), h.finish())
            })
            .collect()
    }
}
