//! The complaint ladder on two replicas: a rule tags `complaint` and
//! sends to the complaints queue, whose resolution clock warns the team
//! lead at 50 %, raises the priority and tells the manager at 80 %
//! (a further warning threshold) and reroutes to the supervisors' queue at
//! the breach; each step once although both replicas fire SLA timers.

use std::time::Duration;

use serde_json::Value;

use crate::support::{sms, unique_prefix, wait_until, FakePeer, TestApp};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn config(twilio: &FakePeer, lists: &FakePeer) -> String {
    let hook = |path: &str| format!(r#"[ {{ kind = "webhook", url = "{}/{path}", secret = "{SECRET}" }} ]"#, lists.base());
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "twilio-test-token"
        from = "+15005550006"
        api_base = "{twilio}"
        [queues.complaints]
        sla = "complaints"
        [queues.supervisors]
        priority = 10
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 4 }}
        [[rules]]
        name = "complaints"
        when = {{ text = "投诉|差评|complaint|terrible|refund not received" }}
        then = {{ queue = "complaints", tags = ["complaint"] }}
        [sla]
        supervisors = {supervisors}
        [sla.notify]
        team_lead = {team_lead}
        manager = {manager}
        [sla.policies.complaints]
        resolution_secs = 4
        warn_at = 0.5
        on_warning = [ {{ action = "notify", to = "team_lead" }} ]
        on_breach = [ {{ action = "reroute", queue = "supervisors", with_agent = true }}, {{ action = "notify", to = "manager" }} ]
        [[sla.policies.complaints.warnings]]
        at = 0.8
        clock = "resolution"
        actions = [ {{ action = "raise_priority", by = 30 }}, {{ action = "notify", to = "manager" }} ]
        "#,
        twilio = twilio.base(),
        supervisors = hook("supervisors"),
        team_lead = hook("team_lead"),
        manager = hook("manager"),
    )
}

fn at(lists: &FakePeer, path: &str) -> Vec<Value> {
    lists.seen().iter().filter(|r| r.uri.path() == path).filter_map(|r| serde_json::from_slice(&r.body).ok()).collect()
}

#[tokio::test]
async fn the_complaint_ladder_runs_each_step_once_across_two_replicas() {
    let twilio = FakePeer::start(vec![(201, vec![], "{}".into())]).await;
    let lists = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let toml = config(&twilio, &lists);
    let prefix = unique_prefix();
    let a = TestApp::ready(TestApp::spawn_with_prefix(&toml, prefix.clone()).await).await;
    let b = TestApp::ready(TestApp::spawn_with_prefix(&toml, prefix).await).await;

    sms(&a, "SMladder00000000000000000000001", "+14155550301", "My refund not received after 3 weeks, terrible").await;
    let client = reqwest::Client::new();
    let get = |path: String| {
        let req = client.get(b.url(&path)).bearer_auth("admin-secret").send();
        async move { req.await.ok()?.json::<Value>().await.ok() }
    };
    let conv = wait_until(Duration::from_secs(15), || async {
        let v = get("/api/v1/conversations".into()).await?;
        v["conversations"].as_array()?.first().cloned()
    })
    .await
    .expect("routed");
    assert_eq!(conv["queue"], "complaints", "{conv}");
    assert_eq!(conv["tags"], serde_json::json!(["complaint"]));
    let id = conv["id"].as_str().unwrap().to_owned();
    let priority = conv["priority"].as_i64().unwrap();

    // Breach (4 s): rerouted to the supervisors' queue.
    let rerouted = wait_until(Duration::from_secs(15), || async {
        let c = get(format!("/api/v1/conversations/{id}")).await?["conversation"].clone();
        (c["queue"] == "supervisors").then_some(c)
    })
    .await
    .expect("the breach reroutes to the supervisors' queue");
    assert_eq!(rerouted["priority"].as_i64().unwrap(), priority + 30, "raised once at 80 % (kept over the queue's 10): {rerouted}");
    let breached = wait_until(Duration::from_secs(15), || {
        let manager = at(&lists, "/manager");
        async move { manager.iter().any(|e| e["type"] == "switchboard.sla.breached").then_some(()) }
    })
    .await;
    assert!(breached.is_some(), "the manager hears of the breach");
    // Whatever either replica fired meanwhile has been delivered by now.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let team_lead = at(&lists, "/team_lead");
    assert_eq!(team_lead.len(), 1, "the 50 % warning, once: {team_lead:?}");
    assert_eq!(team_lead[0]["type"], "switchboard.sla.warning");
    assert_eq!(team_lead[0]["data"]["sla"]["at"], 0.5);
    assert_eq!(team_lead[0]["data"]["notify"], serde_json::json!(["team_lead"]));
    let manager = at(&lists, "/manager");
    let kinds: Vec<&str> = manager.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["switchboard.sla.warning", "switchboard.sla.breached"], "80 % and breach, once each: {manager:?}");
    assert_eq!(manager[0]["data"]["sla"]["at"], 0.8);
    assert_eq!(manager[0]["data"]["sla"]["step"], 0);
    assert!(at(&lists, "/supervisors").is_empty(), "the named lists, not the supervisors");
    a.stop().await;
    b.stop().await;
}
