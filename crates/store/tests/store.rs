//! The store's rules, each run against SQLite and PostgreSQL.

use greenlight_store::{Accepted, CheckRecord, Decided, NewPush, RanBy, Store, Superseded};

/// Runs one scenario against a fresh SQLite file and a fresh PostgreSQL database.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("gl.db").display());
                let store = greenlight_store::Store::connect(&url).await.unwrap();
                assert_eq!(store.backend(), greenlight_store::Backend::Sqlite);
                super::$name(store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                let store = greenlight_store::Store::connect(&greenlight_testkit::postgres_database()).await.unwrap();
                assert_eq!(store.backend(), greenlight_store::Backend::Postgres);
                super::$name(store).await;
            })*
        }
    };
}

on_both!(
    a_delivery_is_accepted_once,
    a_newer_push_supersedes_queued_work_but_not_work_that_posted_pending,
    a_job_is_claimed_by_one_owner_until_its_lease_runs_out,
    only_the_lease_holder_finishes_or_retries,
    issue_rechecks_reach_only_open_deploys_that_name_the_key,
    manual_rechecks_are_deduplicated_by_delivery,
    deploys_keep_their_latest_report,
    many_claimers_never_share_a_job,
    reconciling_a_known_commit_queues_nothing_and_pushes_coalesce_while_queued,
    a_head_superseded_by_a_stale_push_is_queued_again_by_reconciling,
    a_head_read_before_a_newer_push_is_not_taken_by_reconciling,
    a_deploy_runs_one_job_at_a_time,
    a_newer_job_waits_until_an_older_decided_status_is_posted,
    a_job_given_back_untried_keeps_its_attempts_and_its_pending,
    a_push_that_comes_late_is_superseded_by_the_one_that_moved_on_from_it,
    a_push_says_which_queued_jobs_it_superseded,
);

fn push(delivery: &str, branch: &str, sha: char) -> NewPush {
    NewPush {
        delivery: delivery.into(),
        repo: "acme/shop".into(),
        branch: branch.into(),
        sha: sha.to_string().repeat(40),
        clone_url: "/srv/git/shop.git".into(),
        read_at: None,
        before: None,
    }
}

async fn a_delivery_is_accepted_once(store: Store) {
    let first = store.accept(&[push("d1", "deploy", 'a')], 1_000).await.unwrap();
    let Accepted::Queued { deploy, job, .. } = first[0] else { panic!("not queued: {first:?}") };
    // A redelivery is a duplicate, in a later batch and in the same one.
    let batch = [push("d1", "deploy", 'a'), push("d9", "deploy", 'b'), push("d9", "deploy", 'b')];
    let again = store.accept(&batch, 2_000).await.unwrap();
    assert_eq!(again[0], Accepted::Duplicate);
    let Accepted::Queued { deploy: other, job: second, .. } = again[1] else { panic!("not queued: {again:?}") };
    assert_ne!((other, second), (deploy, job));
    assert_eq!(again[2], Accepted::Duplicate);
    assert_eq!(store.find_deploy("acme/shop", "deploy", &"a".repeat(40)).await.unwrap(), Some(deploy));
    assert_eq!(store.clone_url("acme/shop").await.unwrap().as_deref(), Some("/srv/git/shop.git"));
    // `b` superseded `a`'s queued job on the same branch.
    assert_eq!(store.queue_depth().await.unwrap().queued, 1);
}

async fn a_newer_push_supersedes_queued_work_but_not_work_that_posted_pending(store: Store) {
    store.accept(&[push("d1", "deploy", 'a')], 1_000).await.unwrap();
    let claimed = store.claim("w1", 1_000, 60_000).await.unwrap().unwrap();
    assert_eq!(claimed.deploy.sha, "a".repeat(40));
    store.mark_pending(claimed.id).await.unwrap();
    assert!(store.retry(claimed.id, "w1", 1_000, "github is down").await.unwrap());
    store.accept(&[push("d2", "deploy", 'b'), push("d3", "other", 'c')], 2_000).await.unwrap();
    store.accept(&[push("d4", "deploy", 'd')], 3_000).await.unwrap();

    // `a` posted pending, so it still gets its job; `b` is superseded by `d`; `c` is on another branch.
    let mut shas = Vec::new();
    while let Some(job) = store.claim("w1", 4_000, 60_000).await.unwrap() {
        assert_eq!(job.pending_posted, job.deploy.sha == "a".repeat(40));
        shas.push(job.deploy.sha.chars().next().unwrap());
        assert!(store.finish(job.id, "w1", "success", 4_000).await.unwrap());
    }
    assert_eq!(shas, ['a', 'c', 'd']);
    let b = store.find_deploy("acme/shop", "deploy", &"b".repeat(40)).await.unwrap().unwrap();
    assert_eq!(store.deploy(b).await.unwrap().unwrap().job_state.as_deref(), Some("superseded"));
}

async fn a_job_is_claimed_by_one_owner_until_its_lease_runs_out(store: Store) {
    store.accept(&[push("d1", "deploy", 'a')], 1_000).await.unwrap();
    let job = store.claim("w1", 1_000, 5_000).await.unwrap().unwrap();
    assert_eq!((job.attempts, job.reason.as_str(), job.delivery.as_deref()), (1, "push", Some("d1")));
    assert!(store.claim("w2", 4_999, 10_000).await.unwrap().is_none(), "the lease still holds");
    assert!(store.renew(job.id, "w1", 8_000).await.unwrap());
    assert!(store.claim("w2", 7_000, 10_000).await.unwrap().is_none(), "the renewed lease still holds");
    // w1 died: once its lease is over, w2 takes the job, and that counts an attempt.
    let taken = store.claim("w2", 8_001, 20_000).await.unwrap().unwrap();
    assert_eq!((taken.id, taken.attempts), (job.id, 2));
    assert!(!store.renew(job.id, "w1", 30_000).await.unwrap(), "w1 lost the lease");
    // w1 was only slow: what it checked is not kept, and the job's status stays w2's to decide.
    let late = CheckRecord {
        verdict: "fail",
        summary: "checked by w1",
        report: Some("{}"),
        contents: Some("{}"),
        keys: &[],
        job: Some(RanBy { job: job.id, owner: "w1", state: "failure" }),
    };
    assert!(!store.record_check(job.deploy.id, &late, 9_000).await.unwrap());
    assert_eq!(store.deploy(job.deploy.id).await.unwrap().unwrap().verdict, None);
    store.retry(job.id, "w2", 9_000, "github answered 502").await.unwrap();
    let again = store.claim("w2", 9_000, 30_000).await.unwrap().unwrap();
    assert_eq!((again.attempts, again.decided), (3, None), "a claim from the queue counts");
    // Its workers die again and again (a job that exhausts memory, say): each takeover counts, so it runs out of
    // attempts instead of taking the service down for ever.
    for (n, now) in [40_000, 80_000, 120_000].into_iter().enumerate() {
        let taken = store.claim(&format!("w{}", n + 3), now, now + 30_000).await.unwrap().unwrap();
        assert_eq!((taken.id, taken.attempts), (job.id, 4 + n as i64));
    }
}

async fn only_the_lease_holder_finishes_or_retries(store: Store) {
    store.accept(&[push("d1", "deploy", 'a')], 1_000).await.unwrap();
    let job = store.claim("w1", 1_000, 5_000).await.unwrap().unwrap();
    assert_eq!(job.decided, None);
    assert!(!store.finish(job.id, "w2", "success", 2_000).await.unwrap());
    assert!(!store.retry(job.id, "w2", 2_000, "no").await.unwrap());
    // The check ran and its status is known, but posting it failed: the next attempt gets the status to post.
    let record = CheckRecord {
        verdict: "fail",
        summary: "1 problem: 1 commit without an issue key",
        report: Some("{}"),
        contents: Some("{}"),
        keys: &[],
        job: Some(RanBy { job: job.id, owner: "w1", state: "failure" }),
    };
    assert!(store.record_check(job.deploy.id, &record, 1_500).await.unwrap());
    assert!(store.retry(job.id, "w1", 9_000, "github answered 502").await.unwrap());
    assert!(store.claim("w1", 8_999, 20_000).await.unwrap().is_none(), "not due before run_after");
    let again = store.claim("w1", 9_000, 20_000).await.unwrap().unwrap();
    let decided = Decided { state: "failure".into(), description: "1 problem: 1 commit without an issue key".into() };
    assert_eq!(again.decided, Some(decided));
    assert!(store.finish(again.id, "w1", "failure", 9_500).await.unwrap());
    assert!(!store.finish(again.id, "w1", "failure", 9_600).await.unwrap(), "a job finishes once");
    let record = store.deploy(job.deploy.id).await.unwrap().unwrap();
    assert_eq!((record.job_state.as_deref(), record.final_state.as_deref()), (Some("done"), Some("failure")));
    assert_eq!(store.queue_depth().await.unwrap(), Default::default());
}

async fn issue_rechecks_reach_only_open_deploys_that_name_the_key(store: Store) {
    let accepted = store.accept(&[push("d1", "deploy", 'a'), push("d2", "staging", 'b')], 1_000).await.unwrap();
    let ids: Vec<i64> =
        accepted.iter().map(|a| if let Accepted::Queued { deploy, .. } = a { *deploy } else { panic!() }).collect();
    let keys = ["ABC-1".to_owned()];
    let record = CheckRecord {
        verdict: "pass",
        summary: "ok",
        report: Some("{}"),
        contents: Some("{}"),
        keys: &keys,
        job: None,
    };
    for id in &ids {
        assert!(store.record_check(*id, &record, 2_000).await.unwrap());
    }
    assert_eq!(store.recheck_issue("ABC-1", "jira-1", 3_000).await.unwrap(), Some(ids.clone()));
    assert_eq!(store.recheck_issue("ABC-1", "jira-1", 3_000).await.unwrap(), None, "same delivery");
    assert_eq!(store.recheck_issue("ABC-2", "jira-2", 3_000).await.unwrap(), Some(vec![]));
    // A newer push on `deploy` closes the old deploy there: only `staging` is still open with ABC-1.
    store.accept(&[push("d3", "deploy", 'c')], 4_000).await.unwrap();
    assert_eq!(store.recheck_issue("ABC-1", "jira-3", 5_000).await.unwrap(), Some(vec![ids[1]]));
}

async fn manual_rechecks_are_deduplicated_by_delivery(store: Store) {
    let accepted = store.accept(&[push("d1", "deploy", 'a')], 1_000).await.unwrap();
    let Accepted::Queued { deploy, .. } = accepted[0] else { panic!() };
    assert!(matches!(store.recheck(deploy, "recheck", None, 2_000).await.unwrap(), Some(Accepted::Queued { .. })));
    assert!(matches!(
        store.recheck(deploy, "recheck", Some("r1"), 2_000).await.unwrap(),
        Some(Accepted::Queued { .. })
    ));
    assert_eq!(store.recheck(deploy, "recheck", Some("r1"), 2_000).await.unwrap(), Some(Accepted::Duplicate));
    assert_eq!(store.recheck(deploy + 100, "recheck", None, 2_000).await.unwrap(), None);
    assert_eq!(store.queue_depth().await.unwrap().queued, 3);
}

async fn deploys_keep_their_latest_report(store: Store) {
    let accepted = store.accept(&[push("d1", "deploy", 'a')], 1_000).await.unwrap();
    let Accepted::Queued { deploy, .. } = accepted[0] else { panic!() };
    let before = store.deploy(deploy).await.unwrap().unwrap();
    assert_eq!((before.verdict, before.report, before.job_state.as_deref()), (None, None, Some("queued")));
    let keys = ["ABC-1".to_owned(), "ABC-2".to_owned()];
    let first = CheckRecord {
        verdict: "fail",
        summary: "1 problem",
        report: Some("{\"a\":1}"),
        contents: Some("{}"),
        keys: &keys,
        job: None,
    };
    assert!(store.record_check(deploy, &first, 2_000).await.unwrap());
    let second = CheckRecord {
        verdict: "pass",
        summary: "ok",
        report: Some("{\"a\":2}"),
        contents: Some("{\"c\":[]}"),
        keys: &keys[..1],
        job: None,
    };
    assert!(store.record_check(deploy, &second, 3_000).await.unwrap());
    let after = store.deploy(deploy).await.unwrap().unwrap();
    assert_eq!(after.verdict.as_deref(), Some("pass"));
    assert_eq!(after.report.as_deref(), Some("{\"a\":2}"));
    assert_eq!(after.contents.as_deref(), Some("{\"c\":[]}"));
    assert_eq!(after.checked_at, Some(3_000));
    assert_eq!(store.recheck_issue("ABC-2", "j", 4_000).await.unwrap(), Some(vec![]), "keys are replaced");
    assert!(store.deploy(deploy + 1).await.unwrap().is_none());
}

async fn many_claimers_never_share_a_job(store: Store) {
    let pushes: Vec<NewPush> =
        (0..40).map(|i| NewPush { branch: format!("deploy-{i}"), ..push(&format!("d{i}"), "", 'a') }).collect();
    store.accept(&pushes, 1_000).await.unwrap();
    let claimers = (0..8).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let owner = format!("w{w}");
            let mut mine = Vec::new();
            while let Some(job) = store.claim(&owner, 2_000, 60_000).await.unwrap() {
                assert!(store.finish(job.id, &owner, "success", 2_000).await.unwrap());
                mine.push(job.id);
            }
            mine
        })
    });
    let mut all: Vec<i64> = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    all.sort_unstable();
    let unique = all.len();
    all.dedup();
    assert_eq!((unique, all.len()), (40, 40), "each job claimed exactly once");
}

async fn reconciling_a_known_commit_queues_nothing_and_pushes_coalesce_while_queued(store: Store) {
    let first = store.accept(&[push("d1", "deploy", 'a')], 1_000).await.unwrap();
    let Accepted::Queued { deploy, job, .. } = first[0] else { panic!("{first:?}") };
    // Another delivery of the same commit while its job still waits joins that job.
    assert_eq!(
        store.accept(&[push("d2", "deploy", 'a')], 1_100).await.unwrap(),
        [Accepted::Queued { deploy, job, superseded: vec![] }]
    );
    // Reconciling finds the commit known: nothing was missed.
    let found = push("reconcile:acme/shop:deploy:aaaa", "deploy", 'a');
    assert_eq!(store.accept(&[found], 1_200).await.unwrap(), [Accepted::Known { deploy }]);
    assert_eq!(store.queue_depth().await.unwrap().queued, 1);
    // Once the job ran, a new push of the same commit is checked again (production may have moved).
    let claimed = store.claim("w1", 2_000, 60_000).await.unwrap().unwrap();
    assert!(store.finish(claimed.id, "w1", "success", 2_500).await.unwrap());
    let again = store.accept(&[push("d3", "deploy", 'a')], 3_000).await.unwrap();
    assert!(matches!(again[0], Accepted::Queued { job: new, .. } if new != job), "{again:?}");
    // A commit nobody pushed is queued by reconciling.
    let missed = push("reconcile:acme/shop:deploy:bbbb", "deploy", 'b');
    assert!(matches!(store.accept(&[missed], 4_000).await.unwrap()[0], Accepted::Queued { .. }));
}

async fn a_head_superseded_by_a_stale_push_is_queued_again_by_reconciling(store: Store) {
    let head = store.accept(&[push("d-b", "deploy", 'b')], 1_000).await.unwrap();
    let Accepted::Queued { deploy: b, .. } = head[0] else { panic!("{head:?}") };
    // A round of reconciling sees the head known and queued: nothing to do.
    let reconciled = || push("reconcile:acme/shop:deploy:bbbb", "deploy", 'b');
    assert_eq!(store.accept(&[reconciled()], 1_100).await.unwrap(), [Accepted::Known { deploy: b }]);
    // The webhook of the commit before `b` comes late (GitHub does not promise the order) and supersedes `b`'s job,
    // which had not posted anything yet: `b`, the branch's real head, would never get a status.
    store.accept(&[push("d-a", "deploy", 'a')], 1_200).await.unwrap();
    assert_eq!(store.deploy(b).await.unwrap().unwrap().job_state.as_deref(), Some("superseded"));
    // The next round queues `b` again, though the same head was reconciled before; then it is known once more.
    let again = store.accept(&[reconciled()], 2_000).await.unwrap();
    assert!(matches!(again[0], Accepted::Queued { deploy, .. } if deploy == b), "{again:?}");
    assert_eq!(store.accept(&[reconciled()], 2_100).await.unwrap(), [Accepted::Known { deploy: b }]);
    let mut checked = Vec::new();
    while let Some(job) = store.claim("w1", 3_000, 60_000).await.unwrap() {
        checked.push(job.deploy.sha.chars().next().unwrap());
        assert!(store.finish(job.id, "w1", "success", 3_000).await.unwrap());
    }
    assert_eq!(checked, ['b'], "`a` was superseded in turn; `b` gets its status");
}

/// GitHub delivers X, then B (pushed after A, so its `before` is A), then A late (its `before` is X). A is older
/// than B, which the store knows from B's `before`: A supersedes nothing and is superseded as it is accepted, and B,
/// the branch's head, keeps its job and the head.
async fn a_push_that_comes_late_is_superseded_by_the_one_that_moved_on_from_it(store: Store) {
    let after = |delivery: &str, sha: char, before: char| NewPush {
        before: Some(before.to_string().repeat(40)),
        ..push(delivery, "deploy", sha)
    };
    store.accept(&[push("d-x", "deploy", 'x')], 1_000).await.unwrap();
    let b = store.accept(&[after("d-b", 'b', 'a')], 1_100).await.unwrap();
    let Accepted::Queued { deploy: b, .. } = b[0] else { panic!("{b:?}") };
    let a = store.accept(&[after("d-a", 'a', 'x')], 1_200).await.unwrap();
    let Accepted::Queued { deploy: a, .. } = a[0] else { panic!("{a:?}") };
    assert_eq!(store.deploy(a).await.unwrap().unwrap().job_state.as_deref(), Some("superseded"));
    assert_eq!(store.deploy(b).await.unwrap().unwrap().job_state.as_deref(), Some("queued"));
    // The late one names the head that took its place; the head names none.
    assert_eq!(store.deploy(a).await.unwrap().unwrap().head, Some(b));
    assert_eq!(store.deploy(b).await.unwrap().unwrap().head, None);
    // B is still the head: reconciling it finds it known and queued.
    let reconciled = push("reconcile:acme/shop:deploy:bbbb", "deploy", 'b');
    assert_eq!(store.accept(&[reconciled], 1_300).await.unwrap(), [Accepted::Known { deploy: b }]);
    // A push in order still supersedes: C moved on from B.
    store.accept(&[after("d-c", 'c', 'b')], 1_400).await.unwrap();
    assert_eq!(store.deploy(b).await.unwrap().unwrap().job_state.as_deref(), Some("superseded"));
    let mut checked = Vec::new();
    while let Some(job) = store.claim("w1", 2_000, 60_000).await.unwrap() {
        checked.push(job.deploy.sha.chars().next().unwrap());
        assert!(store.finish(job.id, "w1", "success", 2_000).await.unwrap());
    }
    assert_eq!(checked, ['c']);
}

async fn a_head_read_before_a_newer_push_is_not_taken_by_reconciling(store: Store) {
    store.accept(&[push("d-a", "deploy", 'a')], 1_000).await.unwrap();
    // Reconciling reads the branch at 1,500 and finds `a`; while it fetches, the webhook of `b` is accepted.
    let b = store.accept(&[push("d-b", "deploy", 'b')], 1_600).await.unwrap();
    let Accepted::Queued { deploy: b, .. } = b[0] else { panic!("{b:?}") };
    let read = |sha: char, at: i64| NewPush {
        read_at: Some(at),
        ..push(&format!("reconcile:acme/shop:deploy:{sha}"), "deploy", sha)
    };
    // `a`'s job was superseded by `b`, but `a` was read before `b` came: it must not take the branch back.
    assert_eq!(store.accept(&[read('a', 1_500)], 1_700).await.unwrap(), [Accepted::Stale]);
    // Nor may a commit first seen in such a read, which would be queued as new.
    assert_eq!(store.accept(&[read('c', 1_500)], 1_700).await.unwrap(), [Accepted::Stale]);
    // The next round reads `b`, known and queued.
    assert_eq!(store.accept(&[read('b', 2_000)], 2_100).await.unwrap(), [Accepted::Known { deploy: b }]);
    let mut checked = Vec::new();
    while let Some(job) = store.claim("w1", 3_000, 60_000).await.unwrap() {
        checked.push(job.deploy.sha.chars().next().unwrap());
        assert!(store.finish(job.id, "w1", "success", 3_000).await.unwrap());
    }
    assert_eq!(checked, ['b']);
}

async fn a_deploy_runs_one_job_at_a_time(store: Store) {
    let accepted = store.accept(&[push("d1", "deploy", 'a'), push("d2", "other", 'b')], 1_000).await.unwrap();
    let Accepted::Queued { deploy, .. } = accepted[0] else { panic!("{accepted:?}") };
    let first = store.claim("w1", 1_000, 10_000).await.unwrap().unwrap();
    assert_eq!(first.deploy.id, deploy);
    // Two rechecks of the running deploy (an issue changed twice): they wait, and other deploys' work goes on.
    store.recheck(deploy, "issue", Some("j1"), 1_100).await.unwrap().unwrap();
    store.recheck(deploy, "issue", Some("j2"), 1_200).await.unwrap().unwrap();
    let other = store.claim("w2", 2_000, 60_000).await.unwrap().unwrap();
    assert_eq!(other.deploy.sha, "b".repeat(40));
    assert!(store.claim("w2", 2_000, 10_000).await.unwrap().is_none(), "one job at a time on a deploy");
    assert!(store.finish(first.id, "w1", "failure", 3_000).await.unwrap());
    let second = store.claim("w2", 3_000, 10_000).await.unwrap().unwrap();
    assert_eq!((second.deploy.id, second.reason.as_str()), (deploy, "issue"));
    assert!(store.claim("w1", 3_000, 10_000).await.unwrap().is_none(), "the third waits for the second");
    // A holder that died does not block the deploy: once its lease is over, its job is taken over first.
    let taken = store.claim("w1", 10_001, 20_000).await.unwrap().unwrap();
    assert_eq!(taken.id, second.id);
}

async fn a_newer_job_waits_until_an_older_decided_status_is_posted(store: Store) {
    let accepted = store.accept(&[push("d1", "deploy", 'a')], 1_000).await.unwrap();
    let Accepted::Queued { deploy, .. } = accepted[0] else { panic!("{accepted:?}") };
    // The push's job checks (`failure`), keeps its status, and cannot post it: GitHub is down.
    let first = store.claim("w1", 1_000, 60_000).await.unwrap().unwrap();
    store.mark_pending(first.id).await.unwrap();
    let failed = CheckRecord {
        verdict: "fail",
        summary: "1 problem: 1 issue not ready",
        report: Some("{}"),
        contents: Some("{}"),
        keys: &[],
        job: Some(RanBy { job: first.id, owner: "w1", state: "failure" }),
    };
    assert!(store.record_check(deploy, &failed, 1_500).await.unwrap());
    assert!(store.retry(first.id, "w1", 301_000, "github answered 502").await.unwrap());
    // The issue is fixed: a recheck is queued, due long before the push's job runs again. Were it to run first and
    // post `success`, the push's job would then post its kept `failure` over it.
    let Some(Accepted::Queued { job: recheck, .. }) = store.recheck(deploy, "issue", Some("j1"), 2_000).await.unwrap()
    else {
        panic!("not queued")
    };
    assert!(store.claim("w2", 3_000, 60_000).await.unwrap().is_none(), "the recheck waits for the older job");
    // Jobs of one deploy run in the order they were queued: the kept status is posted first, then the recheck
    // checks again and its status is the last one posted.
    let mut posted = Vec::new();
    while let Some(job) = store.claim("w1", 301_000, 400_000).await.unwrap() {
        let state = match &job.decided {
            Some(decided) => decided.state.clone(),
            None => {
                let passed = CheckRecord {
                    verdict: "pass",
                    summary: "no problems",
                    job: Some(RanBy { job: job.id, owner: "w1", state: "success" }),
                    ..failed.clone()
                };
                assert!(store.record_check(deploy, &passed, 301_500).await.unwrap());
                "success".to_owned()
            }
        };
        assert!(store.finish(job.id, "w1", &state, 302_000).await.unwrap());
        posted.push((job.id, state));
    }
    assert_eq!(posted, [(first.id, "failure".to_owned()), (recheck, "success".to_owned())]);
    assert_eq!(store.deploy(deploy).await.unwrap().unwrap().final_state.as_deref(), Some("success"));
}

/// PostgreSQL only (SQLite's claim is atomic under its one writer): the claimers of two replicas, and several in
/// each (all of a process's workers wake together), never run two jobs of one deploy at once, however they race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimers_racing_on_one_deploy_start_one_job() {
    let url = greenlight_testkit::postgres_database();
    let (one, two) = (Store::connect(&url).await.unwrap(), Store::connect(&url).await.unwrap());
    let stores = [one.clone(), one.clone(), two.clone(), two];
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(stores.len()));
    for round in 0..100i64 {
        // A push and a recheck of the same deploy, both due.
        let now = 1_000 + round;
        let accepted = one.accept(&[push(&format!("d{round}"), &format!("b{round}"), 'a')], now).await.unwrap();
        let Accepted::Queued { deploy, .. } = accepted[0] else { panic!("{accepted:?}") };
        one.recheck(deploy, "recheck", None, now).await.unwrap().unwrap();
        let claimers = stores.iter().enumerate().map(|(w, store)| {
            let (store, barrier, owner) = (store.clone(), barrier.clone(), format!("w{w}"));
            tokio::spawn(async move {
                barrier.wait().await;
                store.claim(&owner, now, now + 60_000).await.unwrap().map(|job| (owner, job))
            })
        });
        let mut claimed = Vec::new();
        for claimer in claimers.collect::<Vec<_>>() {
            claimed.extend(claimer.await.unwrap());
        }
        let ids: Vec<i64> = claimed.iter().map(|(_, job)| job.id).collect();
        assert_eq!(ids.len(), 1, "round {round}: one job of the deploy runs at a time, not {ids:?}");
        // The other job runs once the first is done.
        let (owner, job) = &claimed[0];
        assert!(one.claim("w9", now, now + 60_000).await.unwrap().is_none(), "round {round}");
        assert!(one.finish(job.id, owner, "success", now).await.unwrap());
        let next = one.claim("w9", now, now + 60_000).await.unwrap().unwrap();
        assert!(one.finish(next.id, "w9", "success", now).await.unwrap());
        assert_eq!(one.queue_depth().await.unwrap(), Default::default());
    }
}

/// PostgreSQL only (SQLite has one writer at a time): two replicas committing batches that name the same branches in
/// opposite orders never deadlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_batches_of_two_replicas_do_not_deadlock() {
    let url = greenlight_testkit::postgres_database();
    let (one, two) = (Store::connect(&url).await.unwrap(), Store::connect(&url).await.unwrap());
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let replica = |store: Store, name: &'static str, branches: [&'static str; 2]| {
        let barrier = barrier.clone();
        tokio::spawn(async move {
            for round in 0..30u8 {
                let sha = char::from(b'a' + round % 26);
                let batch: Vec<NewPush> =
                    branches.iter().map(|b| push(&format!("{name}-{round}-{b}"), b, sha)).collect();
                barrier.wait().await;
                store.accept(&batch, 1_000 + i64::from(round)).await.unwrap();
            }
        })
    };
    let first = replica(one, "r1", ["x", "y"]);
    let second = replica(two, "r2", ["y", "x"]);
    first.await.unwrap();
    second.await.unwrap();
}

/// A job given back without being tried (the remote's breaker refused its fetch) is due again at `run_after` with the
/// attempts it had before that claim, still marked as having posted `pending`; a retry after a real try counts.
async fn a_job_given_back_untried_keeps_its_attempts_and_its_pending(store: Store) {
    store.accept(&[push("d1", "deploy", 'a')], 1_000).await.unwrap();
    let job = store.claim("w1", 1_000, 60_000).await.unwrap().unwrap();
    assert_eq!((job.attempts, job.pending_posted), (1, false));
    store.mark_pending(job.id).await.unwrap();
    assert!(!store.give_back(job.id, "w2", 2_000, "no").await.unwrap(), "only the lease holder gives a job back");
    for _ in 0..3 {
        assert!(store.give_back(job.id, "w1", 2_000, "the remote's breaker is open").await.unwrap());
        assert!(store.claim("w1", 1_999, 60_000).await.unwrap().is_none(), "not due before run_after");
        let again = store.claim("w1", 2_000, 60_000).await.unwrap().unwrap();
        assert_eq!((again.id, again.attempts, again.pending_posted), (job.id, 1, true));
    }
    assert!(store.retry(job.id, "w1", 3_000, "git fetch failed").await.unwrap());
    let tried = store.claim("w1", 3_000, 60_000).await.unwrap().unwrap();
    assert_eq!((tried.id, tried.attempts), (job.id, 2));
    // A newer push does not supersede it: it told GitHub `pending`.
    assert!(store.give_back(job.id, "w1", 4_000, "the remote's breaker is open").await.unwrap());
    store.accept(&[push("d2", "deploy", 'b')], 4_000).await.unwrap();
    let claimed = store.claim("w1", 4_000, 60_000).await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.attempts), (job.id, 2));
}

/// A PostgreSQL server that cannot be reached is named with the reason at once, not after the pool's own timeout as
/// "pool timed out". The "server" here is a port of the test's own that hangs up on every connection (a port merely
/// left free could be taken by another test meanwhile).
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_postgres_is_named_with_its_reason() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let url = format!("postgres://greenlight:secret@127.0.0.1:{port}/gl");
    let Err(error) = Store::connect(&url).await else { panic!("connected to a port that hangs up") };
    let message = error.to_string();
    assert!(message.contains("error communicating with database"), "{message}");
    assert!(!message.contains("timed out"), "{message}");
    assert!(!message.contains("secret"), "the password is not shown: {message}");
}

/// Accepting a push names the queued jobs (and their deploys) on older commits of its branch that it superseded, for
/// the server to log; a push that superseded nothing names none.
async fn a_push_says_which_queued_jobs_it_superseded(store: Store) {
    let first = store.accept(&[push("d1", "deploy", 'a')], 1_000).await.unwrap();
    let Accepted::Queued { deploy: a, job: a_push, superseded } = first[0].clone() else { panic!("{first:?}") };
    assert_eq!(superseded, []);
    let Some(Accepted::Queued { job: a_recheck, .. }) = store.recheck(a, "recheck", None, 1_100).await.unwrap() else {
        panic!("no recheck queued")
    };
    let batch = [push("d2", "deploy", 'b'), push("d3", "hotfix", 'c')];
    let second = store.accept(&batch, 2_000).await.unwrap();
    let Accepted::Queued { deploy: b, job: b_push, superseded } = second[0].clone() else { panic!("{second:?}") };
    assert_eq!(superseded, [Superseded { job: a_push, deploy: a }, Superseded { job: a_recheck, deploy: a }]);
    assert!(matches!(&second[1], Accepted::Queued { superseded, .. } if superseded.is_empty()), "{second:?}");
    // A job that told GitHub `pending` is not superseded, so not named; the same commit again joins its queued job.
    let claimed = store.claim("w1", 2_000, 60_000).await.unwrap().unwrap();
    assert_eq!(claimed.id, b_push);
    store.mark_pending(b_push).await.unwrap();
    assert!(store.retry(b_push, "w1", 2_000, "github answered 502").await.unwrap());
    let third = store.accept(&[push("d4", "deploy", 'd'), push("d5", "hotfix", 'c')], 3_000).await.unwrap();
    assert!(matches!(&third[0], Accepted::Queued { superseded, .. } if superseded.is_empty()), "{third:?}");
    assert!(matches!(&third[1], Accepted::Queued { superseded, .. } if superseded.is_empty()), "{third:?}");
    assert_ne!(b, a);
}
