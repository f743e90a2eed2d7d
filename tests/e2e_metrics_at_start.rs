//! A controller that has not reconciled anything yet already exposes every controller's series
//! at 0 (as controller-runtime does), so dashboards and alerts work on an idle controller.

mod support;

use support::{World, fast_tfsim};

#[test]
fn idle_controllers_expose_their_series() {
    capt::actors::block_on(async {
        let w = World::start(fast_tfsim()).await;
        let text = w.metrics.encode();
        for controller in ["captcluster", "captcontrolplane", "workspacetemplateapply"] {
            for line in [
                format!(
                    r#"controller_runtime_reconcile_total{{controller="{controller}",result="error"}} 0"#
                ),
                format!(r#"workqueue_depth{{name="{controller}"}} 0"#),
            ] {
                assert!(text.contains(&line), "{line} missing");
            }
        }
        w.stop().await;
    });
}
