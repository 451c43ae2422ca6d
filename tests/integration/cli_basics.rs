//! The worker protocol end to end through the real binary.

use crate::support::Project;

#[test]
fn enqueue_claim_complete_round_trip() {
    let p = Project::with_stream("auth");
    let id = p.enqueue("auth", r#"{"script_path": "scripts/x.sh"}"#);
    let claimed = p.claim("auth");
    assert_eq!(claimed["id"], id.as_str());
    assert_eq!(claimed["status"], "running");
    assert_eq!(claimed["stream"]["name"], "auth");
    assert_eq!(claimed["stream"]["instructions"], "Do the thing.");
    let token = claimed["claim_token"].as_str().unwrap().to_owned();
    p.sparkq([
        "complete",
        &id,
        "--token",
        &token,
        "--result",
        r#"{"summary": "did it"}"#,
    ])
    .success();
    assert_eq!(p.files("auth", "done"), [format!("{id}.json")]);
    assert!(p.files("auth", "claimed").is_empty());
}
