//! Installing a CustomResourceDefinition from YAML.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};

/// Installing a CRD failed.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The YAML is not a CRD.
    #[error("invalid CRD YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// The API server refused it.
    #[error("installing CRD {name}: {source}")]
    Api {
        /// CRD name.
        name: String,
        /// API error.
        source: kube::Error,
    },
}

/// Creates (or replaces) the CRD in `yaml` and waits up to 10 s for it to be Established.
pub async fn install(client: &kube::Client, yaml: &str) -> Result<(), CrdError> {
    let crd: CustomResourceDefinition = serde_yaml::from_str(yaml)?;
    let name = crd.metadata.name.clone().unwrap_or_default();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let wrap = |source| CrdError::Api {
        name: name.clone(),
        source,
    };
    match api.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = api.get(&name).await.map_err(wrap)?;
            let mut updated = crd.clone();
            updated.metadata.resource_version = existing.metadata.resource_version;
            api.replace(&name, &PostParams::default(), &updated)
                .await
                .map_err(wrap)?;
        }
        Err(e) => return Err(wrap(e)),
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if let Ok(c) = api.get(&name).await {
            let established = c
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!(crd = %name, "CRD not reported Established after 10s; continuing");
    Ok(())
}
