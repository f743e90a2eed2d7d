//! Field lists of the protobuf messages kubesim reads and writes, with their JSON names
//! (from the Go types' `json` tags; `zero` marks plain `omitempty` integers and booleans).

use k8s_pb::api::authentication::v1 as authn;
use k8s_pb::api::authorization::v1 as authz;
use k8s_pb::api::autoscaling::v1 as autoscaling;
use k8s_pb::api::coordination::v1 as coordination;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::events::v1 as events;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;

use super::json::{message, string_list};

message!(meta::ObjectMeta {
    name: "name", generate_name: "generateName", namespace: "namespace", self_link: "selfLink",
    uid: "uid", resource_version: "resourceVersion", generation: "generation" zero,
    creation_timestamp: "creationTimestamp", deletion_timestamp: "deletionTimestamp",
    deletion_grace_period_seconds: "deletionGracePeriodSeconds", labels: "labels",
    annotations: "annotations", owner_references: "ownerReferences", finalizers: "finalizers",
    managed_fields: "managedFields",
});
message!(meta::OwnerReference {
    api_version: "apiVersion",
    kind: "kind",
    name: "name",
    uid: "uid",
    controller: "controller",
    block_owner_deletion: "blockOwnerDeletion",
});
message!(meta::ManagedFieldsEntry {
    manager: "manager",
    operation: "operation",
    api_version: "apiVersion",
    time: "time",
    fields_type: "fieldsType",
    fields_v1: "fieldsV1",
    subresource: "subresource",
});
message!(meta::ListMeta {
    self_link: "selfLink",
    resource_version: "resourceVersion",
    r#continue: "continue",
    remaining_item_count: "remainingItemCount",
});
message!(meta::Status {
    metadata: "metadata", status: "status", message: "message", reason: "reason",
    details: "details", code: "code" zero,
});
message!(meta::StatusDetails {
    name: "name", group: "group", kind: "kind", uid: "uid", causes: "causes",
    retry_after_seconds: "retryAfterSeconds" zero,
});
message!(meta::StatusCause {
    reason: "reason",
    message: "message",
    field: "field"
});
message!(meta::DeleteOptions {
    grace_period_seconds: "gracePeriodSeconds",
    preconditions: "preconditions",
    orphan_dependents: "orphanDependents",
    propagation_policy: "propagationPolicy",
    dry_run: "dryRun",
    ignore_store_read_error_with_cluster_breaking_potential: "ignoreStoreReadErrorWithClusterBreakingPotential",
});
message!(meta::Preconditions {
    uid: "uid",
    resource_version: "resourceVersion"
});
message!(meta::FieldSelectorRequirement {
    key: "key",
    operator: "operator",
    values: "values"
});
message!(meta::LabelSelectorRequirement {
    key: "key",
    operator: "operator",
    values: "values"
});

message!(core::Namespace {
    metadata: "metadata",
    spec: "spec",
    status: "status"
});
message!(core::NamespaceSpec {
    finalizers: "finalizers"
});
message!(core::NamespaceStatus {
    phase: "phase",
    conditions: "conditions"
});
message!(core::NamespaceCondition {
    r#type: "type",
    status: "status",
    last_transition_time: "lastTransitionTime",
    reason: "reason",
    message: "message",
});
message!(core::NamespaceList {
    metadata: "metadata",
    items: "items"
});
message!(core::Secret {
    metadata: "metadata",
    immutable: "immutable",
    data: "data",
    string_data: "stringData",
    r#type: "type",
});
message!(core::SecretList {
    metadata: "metadata",
    items: "items"
});
message!(core::ConfigMap {
    metadata: "metadata",
    immutable: "immutable",
    data: "data",
    binary_data: "binaryData",
});
message!(core::ConfigMapList {
    metadata: "metadata",
    items: "items"
});
message!(core::Event {
    metadata: "metadata", involved_object: "involvedObject", reason: "reason",
    message: "message", source: "source", first_timestamp: "firstTimestamp",
    last_timestamp: "lastTimestamp", count: "count" zero, r#type: "type",
    event_time: "eventTime", series: "series", action: "action", related: "related",
    reporting_component: "reportingComponent", reporting_instance: "reportingInstance",
});
message!(core::EventSource {
    component: "component",
    host: "host"
});
message!(core::EventSeries { count: "count" zero, last_observed_time: "lastObservedTime" });
message!(core::EventList {
    metadata: "metadata",
    items: "items"
});
message!(core::ObjectReference {
    kind: "kind",
    namespace: "namespace",
    name: "name",
    uid: "uid",
    api_version: "apiVersion",
    resource_version: "resourceVersion",
    field_path: "fieldPath",
});
message!(core::ServiceAccount {
    metadata: "metadata",
    secrets: "secrets",
    image_pull_secrets: "imagePullSecrets",
    automount_service_account_token: "automountServiceAccountToken",
});
message!(core::ServiceAccountList {
    metadata: "metadata",
    items: "items"
});
message!(core::LocalObjectReference { name: "name" });

message!(events::Event {
    metadata: "metadata", event_time: "eventTime", series: "series",
    reporting_controller: "reportingController", reporting_instance: "reportingInstance",
    action: "action", reason: "reason", regarding: "regarding", related: "related",
    note: "note", r#type: "type", deprecated_source: "deprecatedSource",
    deprecated_first_timestamp: "deprecatedFirstTimestamp",
    deprecated_last_timestamp: "deprecatedLastTimestamp",
    deprecated_count: "deprecatedCount" zero,
});
message!(events::EventSeries {
    count: "count",
    last_observed_time: "lastObservedTime"
});
message!(events::EventList {
    metadata: "metadata",
    items: "items"
});

message!(coordination::Lease {
    metadata: "metadata",
    spec: "spec"
});
message!(coordination::LeaseSpec {
    holder_identity: "holderIdentity",
    lease_duration_seconds: "leaseDurationSeconds",
    acquire_time: "acquireTime",
    renew_time: "renewTime",
    lease_transitions: "leaseTransitions",
    strategy: "strategy",
    preferred_holder: "preferredHolder",
});
message!(coordination::LeaseList {
    metadata: "metadata",
    items: "items"
});

message!(autoscaling::Scale {
    metadata: "metadata",
    spec: "spec",
    status: "status"
});
message!(autoscaling::ScaleSpec { replicas: "replicas" zero });
message!(autoscaling::ScaleStatus {
    replicas: "replicas",
    selector: "selector"
});

message!(authn::TokenReview {
    metadata: "metadata",
    spec: "spec",
    status: "status"
});
message!(authn::TokenReviewSpec {
    token: "token",
    audiences: "audiences"
});
message!(authn::TokenReviewStatus {
    authenticated: "authenticated" zero, user: "user", audiences: "audiences", error: "error",
});
message!(authn::UserInfo {
    username: "username",
    uid: "uid",
    groups: "groups",
    extra: "extra"
});
string_list!(authn::ExtraValue);

message!(authz::SubjectAccessReview {
    metadata: "metadata",
    spec: "spec",
    status: "status"
});
message!(authz::SelfSubjectAccessReview {
    metadata: "metadata",
    spec: "spec",
    status: "status"
});
message!(authz::SubjectAccessReviewSpec {
    resource_attributes: "resourceAttributes",
    non_resource_attributes: "nonResourceAttributes",
    user: "user",
    groups: "groups",
    extra: "extra",
    uid: "uid",
});
message!(authz::SelfSubjectAccessReviewSpec {
    resource_attributes: "resourceAttributes",
    non_resource_attributes: "nonResourceAttributes",
});
message!(authz::ResourceAttributes {
    namespace: "namespace",
    verb: "verb",
    group: "group",
    version: "version",
    resource: "resource",
    subresource: "subresource",
    name: "name",
    field_selector: "fieldSelector",
    label_selector: "labelSelector",
});
message!(authz::FieldSelectorAttributes {
    raw_selector: "rawSelector",
    requirements: "requirements"
});
message!(authz::LabelSelectorAttributes {
    raw_selector: "rawSelector",
    requirements: "requirements"
});
message!(authz::NonResourceAttributes {
    path: "path",
    verb: "verb"
});
message!(authz::SubjectAccessReviewStatus {
    allowed: "allowed", denied: "denied" zero, reason: "reason",
    evaluation_error: "evaluationError",
});
string_list!(authz::ExtraValue);
