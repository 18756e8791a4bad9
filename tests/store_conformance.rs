//! One conformance suite for every `Store` implementation: each case runs on SQLite and on
//! Postgres and must behave the same.

mod common;

use std::{collections::HashSet, sync::Arc};

use assessment_gateway::{
    domain::{now, OrderRequest, OrderStatus},
    store::{
        connect, AccountRecord, ApiKeyRecord, AttemptOutcome, AttemptRecord, AuditFilter,
        CallbackTarget, DeliveryFilter, DeliveryStatus, DynStore, InsertOrder, NewAuditEvent,
        NewDelivery, NewEvent, OrderChange, OrderErasure, OrderFilter, OrderRecord, ProjectRecord,
    },
};
use chrono::{DateTime, Duration, Utc};
use common::TestDb;
use serde_json::json;
use uuid::Uuid;

async fn store(db: &TestDb) -> DynStore {
    connect(&db.url).await.expect("store connects and migrates")
}

async fn project(store: &DynStore) -> ProjectRecord {
    let p = ProjectRecord {
        id: Uuid::now_v7(),
        name: "p".into(),
        signing_secret_sealed: vec![1, 2, 3],
        previous_signing_secret_sealed: None,
        previous_signing_valid_until: None,
        retention_days: None,
        created_at: now(),
    };
    store.insert_project(&p).await.unwrap();
    p
}

async fn account(store: &DynStore, project_id: Uuid) -> AccountRecord {
    let at = now();
    let a = AccountRecord {
        id: Uuid::now_v7(),
        project_id,
        provider: "sandbox".into(),
        name: "a".into(),
        credentials_sealed: vec![9; 40],
        settings: json!({"pass_mark": 60}),
        created_at: at,
        updated_at: at,
    };
    store.insert_account(&a).await.unwrap();
    a
}

fn order(account: &AccountRecord, key: Option<&str>) -> OrderRecord {
    let at = now();
    let request: OrderRequest = serde_json::from_value(json!({"id": key, "package": {"id": "p1"},
        "candidate": {"emails": [{"value": "ada@example.com"}]}}))
    .unwrap();
    OrderRecord {
        id: Uuid::now_v7(),
        project_id: account.project_id,
        account_id: account.id,
        provider: account.provider.clone(),
        client_key: key.map(str::to_string),
        request_hash: "h1".into(),
        status: OrderStatus::Pending,
        package_id: "p1".into(),
        candidate_email: "ada@example.com".into(),
        remote_id: None,
        test_url: None,
        results_update_url: Some("https://ats.example.com/r".into()),
        request,
        provider_data: json!({}),
        result: None,
        failure_reason: None,
        next_poll_at: None,
        callback_token_hash: Some(format!("cb-{}", Uuid::now_v7())),
        erased_at: None,
        created_at: at,
        updated_at: at,
    }
}

fn change(status: OrderStatus, message: &str) -> OrderChange {
    OrderChange {
        status,
        remote_id: None,
        test_url: None,
        provider_data: None,
        result: None,
        failure_reason: None,
        next_poll_at: None,
        at: now(),
        event: NewEvent::new(message),
        delivery: None,
    }
}

async fn projects_keys_and_accounts_round_trip(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    assert_eq!(
        store.get_project(p.id).await.unwrap(),
        Some(p.clone()),
        "values read back equal values written"
    );
    assert_eq!(store.list_projects().await.unwrap(), vec![p.clone()]);
    assert_eq!(store.get_project(Uuid::now_v7()).await.unwrap(), None);

    let key = ApiKeyRecord {
        id: Uuid::now_v7(),
        project_id: p.id,
        name: "k".into(),
        key_hash: "abc123".into(),
        key_prefix: "agw_ab".into(),
        created_at: now(),
        revoked_at: None,
    };
    store.insert_api_key(&key).await.unwrap();
    assert_eq!(
        store.find_api_key("abc123").await.unwrap(),
        Some(key.clone())
    );
    assert_eq!(store.find_api_key("other").await.unwrap(), None);
    let revoked = store.revoke_api_key(key.id, now()).await.unwrap().unwrap();
    assert_eq!((revoked.id, revoked.project_id), (key.id, p.id));
    assert!(revoked.revoked_at.is_some());
    assert!(
        store.revoke_api_key(key.id, now()).await.unwrap().is_none(),
        "revoking twice"
    );
    assert!(store
        .find_api_key("abc123")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
    assert_eq!(store.list_api_keys(p.id).await.unwrap().len(), 1);

    let mut a = account(&store, p.id).await;
    assert_eq!(store.get_account(a.id).await.unwrap(), Some(a.clone()));
    a.settings = json!({"base_url": "http://127.0.0.1:1"});
    a.name = "renamed".into();
    assert!(store.update_account(&a).await.unwrap());
    assert_eq!(
        store.get_account(a.id).await.unwrap().unwrap().settings,
        a.settings
    );
    assert_eq!(store.list_accounts(p.id).await.unwrap().len(), 1);

    let o = order(&a, Some("k1"));
    store
        .insert_order(&o, &NewEvent::new("received"))
        .await
        .unwrap();
    assert!(store.delete_account(a.id, now()).await.unwrap());
    assert!(!store.delete_account(a.id, now()).await.unwrap());
    assert_eq!(store.get_account(a.id).await.unwrap(), None);
    assert!(
        !store.update_account(&a).await.unwrap(),
        "a deleted account cannot change"
    );
    assert!(store.list_accounts(p.id).await.unwrap().is_empty());
    assert!(
        store.get_order(o.id).await.unwrap().is_some(),
        "orders outlive their account"
    );
}

async fn an_order_key_is_unique_per_account(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    let a = account(&store, p.id).await;
    let b = account(&store, p.id).await;
    let first = order(&a, Some("key-1"));
    let InsertOrder::Inserted(inserted) = store
        .insert_order(&first, &NewEvent::new("received"))
        .await
        .unwrap()
    else {
        panic!("first insert")
    };
    assert_eq!(inserted, first);
    assert_eq!(
        store.get_order(first.id).await.unwrap(),
        Some(first.clone()),
        "order reads back whole"
    );
    let second = order(&a, Some("key-1"));
    match store
        .insert_order(&second, &NewEvent::new("received"))
        .await
        .unwrap()
    {
        InsertOrder::Existing(existing) => assert_eq!(existing.id, first.id),
        InsertOrder::Inserted(_) => panic!("a duplicate key was inserted"),
    }
    assert!(store.get_order(second.id).await.unwrap().is_none());
    assert_eq!(
        store.list_order_events(first.id).await.unwrap().len(),
        1,
        "no event for the duplicate"
    );

    // The same key on another account, and orders without key, do not collide.
    assert!(matches!(
        store
            .insert_order(&order(&b, Some("key-1")), &NewEvent::new("r"))
            .await
            .unwrap(),
        InsertOrder::Inserted(_)
    ));
    for _ in 0..2 {
        assert!(matches!(
            store
                .insert_order(&order(&a, None), &NewEvent::new("r"))
                .await
                .unwrap(),
            InsertOrder::Inserted(_)
        ));
    }
    assert_eq!(
        store
            .find_order_by_client_key(a.id, "key-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        first.id
    );
    assert_eq!(
        store.find_order_by_client_key(a.id, "nope").await.unwrap(),
        None
    );
}

async fn concurrent_inserts_with_one_key_make_one_order(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    let a = Arc::new(account(&store, p.id).await);
    let tasks = (0..24).map(|_| {
        let store = store.clone();
        let a = a.clone();
        tokio::spawn(async move {
            store
                .insert_order(&order(&a, Some("burst")), &NewEvent::new("r"))
                .await
                .unwrap()
        })
    });
    let outcomes = futures::future::join_all(tasks).await;
    let mut inserted = 0;
    let mut ids = HashSet::new();
    for outcome in outcomes {
        match outcome.unwrap() {
            InsertOrder::Inserted(o) => {
                inserted += 1;
                ids.insert(o.id);
            }
            InsertOrder::Existing(o) => {
                ids.insert(o.id);
            }
        }
    }
    assert_eq!(inserted, 1);
    assert_eq!(ids.len(), 1, "every caller sees the one order");
    assert_eq!(common::count_rows(&db, "orders").await, 1);
    assert_eq!(common::count_rows(&db, "order_events").await, 1);
}

/// Concurrent writes may share a transaction (SQLite's group commit): one that fails must be
/// undone alone, with its half-written rows, while the others are kept.
async fn a_failing_write_among_concurrent_ones_is_undone_alone(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    let a = Arc::new(account(&store, p.id).await);
    let taken = order(&a, Some("first"));
    store
        .insert_order(&taken, &NewEvent::new("r"))
        .await
        .unwrap();
    let tasks = (0..32).map(|i| {
        let (store, a, taken_id) = (store.clone(), a.clone(), taken.id);
        tokio::spawn(async move {
            let mut o = order(&a, Some(&format!("key-{i}")));
            if i == 7 {
                // A new client key but an id already used: the insert itself fails.
                o.id = taken_id;
            }
            store.insert_order(&o, &NewEvent::new("r")).await
        })
    });
    let outcomes = futures::future::join_all(tasks).await;
    let failed: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.as_ref().unwrap().is_err())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(failed, vec![7], "only the conflicting write fails");
    assert_eq!(common::count_rows(&db, "orders").await, 32);
    assert_eq!(common::count_rows(&db, "order_events").await, 32);
    assert!(store
        .find_order_by_client_key(a.id, "key-7")
        .await
        .unwrap()
        .is_none());
}

/// Runs `writes` at once and checks that they shared batches (fewer commits than writes).
async fn at_once<T, F>(store: &DynStore, writes: Vec<F>) -> Vec<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let before = store.write_batches();
    let count = writes.len() as u64;
    let outcomes: Vec<T> = futures::future::join_all(writes.into_iter().map(tokio::spawn))
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let after = store.write_batches();
    assert!(
        after.writes - before.writes >= count,
        "{before:?} {after:?}"
    );
    assert!(
        after.batches - before.batches < count,
        "{count} concurrent writes took {} batches",
        after.batches - before.batches
    );
    outcomes
}

/// Concurrent order writes share statements and commits, yet each keeps its own outcome: a
/// status that moved on, a row the database refuses, or a second change of the same order in the
/// same moment touches only its own write.
async fn concurrent_order_writes_share_batches_and_keep_their_own_outcomes(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    let a = Arc::new(account(&store, p.id).await);
    let inserts = (0..48)
        .map(|i| {
            let (store, a) = (store.clone(), a.clone());
            async move {
                store
                    .insert_order(
                        &order(&a, Some(&format!("b-{i}"))),
                        &NewEvent::new("received"),
                    )
                    .await
                    .unwrap()
            }
        })
        .collect();
    let orders: Vec<OrderRecord> = at_once(&store, inserts)
        .await
        .into_iter()
        .map(|outcome| match outcome {
            InsertOrder::Inserted(o) => o,
            InsertOrder::Existing(o) => panic!("{} was new", o.id),
        })
        .collect();

    // A delivery id already taken makes one change's row fail in the database.
    let taken = invited_order(&store).await;
    let taken_delivery = change_with_delivery(
        &store,
        &taken,
        OrderStatus::Invited,
        OrderStatus::InProgress,
    )
    .await;
    let due = now() + Duration::minutes(30);
    let changes = orders
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (store, id) = (store.clone(), o.id);
            async move {
                let mut c = change(OrderStatus::Invited, "invited");
                c.remote_id = Some(format!("r-{i}"));
                c.next_poll_at = Some(due);
                c.delivery = Some(NewDelivery {
                    id: if i == 5 {
                        taken_delivery
                    } else {
                        Uuid::now_v7()
                    },
                    url: "https://ats.example.com/r".into(),
                    body: "{}".into(),
                });
                let expected = if i == 9 {
                    OrderStatus::InProgress
                } else {
                    OrderStatus::Pending
                };
                store.update_order(id, expected, &c).await
            }
        })
        .collect();
    let outcomes = at_once(&store, changes).await;
    for (i, outcome) in outcomes.iter().enumerate() {
        match (i, outcome) {
            (5, outcome) => assert!(outcome.is_err(), "the refused row fails: {outcome:?}"),
            (9, outcome) => assert_eq!(outcome.as_ref().unwrap(), &None, "its status moved on"),
            (i, outcome) => {
                let changed = outcome.as_ref().unwrap().as_ref().expect("changed");
                assert_eq!(changed.status, OrderStatus::Invited);
                assert_eq!(
                    changed.remote_id.as_deref(),
                    Some(format!("r-{i}").as_str())
                );
                assert_eq!(
                    changed.next_poll_at.map(|t| t.timestamp_millis()),
                    Some(due.timestamp_millis())
                );
                assert_eq!(changed.candidate_email, "ada@example.com");
            }
        }
    }
    for i in [5, 9] {
        let kept = store.get_order(orders[i].id).await.unwrap().unwrap();
        assert_eq!(kept.status, OrderStatus::Pending, "order {i} is as it was");
        assert_eq!(
            store.list_order_events(orders[i].id).await.unwrap().len(),
            1
        );
    }
    assert_eq!(common::count_rows(&db, "deliveries").await, 1 + 46);
    assert_eq!(common::count_rows(&db, "order_polls").await, 46);
    assert_eq!(common::count_rows(&db, "order_events").await, 48 + 2 + 46);

    // Sixteen changes of one order at once: the first applies, the rest find it moved on.
    let one = orders[0].id;
    let rivals = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .update_order(
                        one,
                        OrderStatus::Invited,
                        &change(OrderStatus::InProgress, "started"),
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    // (They cannot share a Postgres batch: one statement changes a row once.)
    let applied = futures::future::join_all::<Vec<tokio::task::JoinHandle<_>>>(rivals)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap())
        .count();
    assert_eq!(applied, 1);
    assert_eq!(store.list_order_events(one).await.unwrap().len(), 3);
    let started = store.get_order(one).await.unwrap().unwrap();
    assert_eq!(started.status, OrderStatus::InProgress);
    assert_eq!(
        started.next_poll_at, None,
        "a change without a next poll ends the poll"
    );
}

async fn order_changes_are_compare_and_set_with_their_event(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    let a = account(&store, p.id).await;
    let o = order(&a, Some("k"));
    store
        .insert_order(&o, &NewEvent::new("received"))
        .await
        .unwrap();

    let mut invited = change(OrderStatus::Invited, "invited");
    invited.remote_id = Some("r-1".into());
    invited.test_url = Some("https://t/1".into());
    invited.provider_data = Some(json!({"testtaker_id": 4276}));
    let updated = store
        .update_order(o.id, OrderStatus::Pending, &invited)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.status, OrderStatus::Invited);
    assert_eq!(updated.remote_id.as_deref(), Some("r-1"));
    assert_eq!(updated.provider_data, json!({"testtaker_id": 4276}));
    assert_eq!(updated.updated_at, invited.at);

    // A stale expectation changes nothing and records nothing.
    assert!(store
        .update_order(
            o.id,
            OrderStatus::Pending,
            &change(OrderStatus::Failed, "late")
        )
        .await
        .unwrap()
        .is_none());
    let kept = store
        .update_order(
            o.id,
            OrderStatus::Invited,
            &change(OrderStatus::InProgress, "started"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.remote_id.as_deref(),
        Some("r-1"),
        "unset fields are kept"
    );
    assert_eq!(kept.test_url.as_deref(), Some("https://t/1"));
    assert_eq!(
        store
            .find_callback_target(o.callback_token_hash.as_deref().unwrap())
            .await
            .unwrap(),
        Some(CallbackTarget {
            order_id: o.id,
            provider: "sandbox".into(),
            remote_id: Some("r-1".into()),
            status: OrderStatus::InProgress,
            next_poll_at: kept.next_poll_at,
        })
    );
    assert_eq!(store.find_callback_target("unknown").await.unwrap(), None);

    let events = store.list_order_events(o.id).await.unwrap();
    let steps: Vec<(Option<OrderStatus>, OrderStatus, &str)> = events
        .iter()
        .map(|e| (e.from_status, e.to_status, e.message.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (None, OrderStatus::Pending, "received"),
            (Some(OrderStatus::Pending), OrderStatus::Invited, "invited"),
            (
                Some(OrderStatus::Invited),
                OrderStatus::InProgress,
                "started"
            ),
        ]
    );
    assert_eq!(
        store
            .find_order_by_remote_id("sandbox", "r-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        o.id
    );
    assert_eq!(
        store
            .find_order_by_remote_id("testgorilla", "r-1")
            .await
            .unwrap(),
        None
    );
}

async fn the_orders_holding_an_invitation_are_found_within_their_account(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    let a = account(&store, p.id).await;
    let b = account(&store, p.id).await;
    let invite = |store: DynStore, order: OrderRecord, remote: &'static str| async move {
        store
            .insert_order(&order, &NewEvent::new("received"))
            .await
            .unwrap();
        let mut invited = change(OrderStatus::Invited, "invited");
        invited.remote_id = Some(remote.into());
        store
            .update_order(order.id, OrderStatus::Pending, &invited)
            .await
            .unwrap()
            .unwrap()
    };
    let first = invite(store.clone(), order(&a, Some("k1")), "inv-7").await;
    let second = invite(store.clone(), order(&a, Some("k2")), "inv-7").await;
    invite(store.clone(), order(&a, Some("k3")), "inv-8").await;
    invite(store.clone(), order(&b, Some("k1")), "inv-7").await;
    let holders: Vec<Uuid> = store
        .list_orders_by_remote_id(a.id, "sandbox", "inv-7")
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(
        holders,
        vec![second.id, first.id],
        "newest first, account a only"
    );
    assert!(store
        .list_orders_by_remote_id(a.id, "testgorilla", "inv-7")
        .await
        .unwrap()
        .is_empty());
}

async fn orders_are_found_by_one_search_and_counted_by_status(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    let a = account(&store, p.id).await;
    let mut first = order(&a, Some("ats-77"));
    first.candidate_email = "grace@example.com".into();
    store
        .insert_order(&first, &NewEvent::new("received"))
        .await
        .unwrap();
    let mut invited = change(OrderStatus::Invited, "invited");
    invited.remote_id = Some("vendor-9".into());
    store
        .update_order(first.id, OrderStatus::Pending, &invited)
        .await
        .unwrap()
        .unwrap();
    let second = order(&a, Some("ats-78"));
    store
        .insert_order(&second, &NewEvent::new("received"))
        .await
        .unwrap();
    for search in [
        "grace@example.com",
        "ats-77",
        "vendor-9",
        &first.id.to_string(),
    ] {
        let found = store
            .list_orders(&OrderFilter {
                search: Some(search.to_string()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            found.iter().map(|o| o.id).collect::<Vec<_>>(),
            vec![first.id],
            "{search}"
        );
    }
    let none = store
        .list_orders(&OrderFilter {
            search: Some("nobody@example.com".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    let counts = store
        .order_counts_since(now() - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        counts,
        vec![
            ("sandbox".to_string(), OrderStatus::Invited, 1),
            ("sandbox".to_string(), OrderStatus::Pending, 1)
        ]
    );
    assert!(store
        .order_counts_since(now() + Duration::hours(1))
        .await
        .unwrap()
        .is_empty());
}

async fn orders_list_newest_first_with_filters_and_cursor(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    let a = account(&store, p.id).await;
    let other = account(&store, project(&store).await.id).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let o = order(&a, Some(&format!("k{i}")));
        store.insert_order(&o, &NewEvent::new("r")).await.unwrap();
        ids.push(o.id);
    }
    store
        .insert_order(&order(&other, None), &NewEvent::new("r"))
        .await
        .unwrap();
    store
        .update_order(
            ids[1],
            OrderStatus::Pending,
            &change(OrderStatus::Failed, "refused"),
        )
        .await
        .unwrap();

    let page = |before: Option<Uuid>| OrderFilter {
        project_id: Some(p.id),
        before,
        limit: 2,
        ..Default::default()
    };
    let first = store.list_orders(&page(None)).await.unwrap();
    assert_eq!(
        first.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3]]
    );
    let second = store.list_orders(&page(Some(ids[3]))).await.unwrap();
    assert_eq!(
        second.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1]]
    );

    let failed = store
        .list_orders(&OrderFilter {
            status: Some(OrderStatus::Failed),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        failed.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![ids[1]]
    );
    let by_account = store
        .list_orders(&OrderFilter {
            account_id: Some(other.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_account.len(), 1);
    let by_provider = store
        .list_orders(&OrderFilter {
            provider: Some("testgorilla".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(by_provider.is_empty());
    assert_eq!(
        store
            .list_orders(&OrderFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        6
    );
}

async fn due_polls_are_claimed_once_under_a_lease(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    let a = account(&store, p.id).await;
    let at = now();
    let mut due = Vec::new();
    for i in 0..6 {
        let mut o = order(&a, Some(&format!("k{i}")));
        o.status = OrderStatus::Invited;
        o.next_poll_at = Some(at - Duration::seconds(10 - i));
        store.insert_order(&o, &NewEvent::new("r")).await.unwrap();
        due.push(o.id);
    }
    let mut later = order(&a, Some("later"));
    later.status = OrderStatus::Invited;
    later.next_poll_at = Some(at + Duration::hours(1));
    store
        .insert_order(&later, &NewEvent::new("r"))
        .await
        .unwrap();
    let mut closed = order(&a, Some("closed"));
    closed.status = OrderStatus::Completed;
    closed.next_poll_at = Some(at - Duration::hours(1));
    store
        .insert_order(&closed, &NewEvent::new("r"))
        .await
        .unwrap();

    let lease = at + Duration::minutes(2);
    let (x, y) = tokio::join!(
        store.claim_due_polls(at, lease, 4),
        store.claim_due_polls(at, lease, 4)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let claimed: Vec<Uuid> = x.iter().chain(y.iter()).map(|o| o.id).collect();
    let unique: HashSet<Uuid> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), unique.len(), "no order claimed twice");
    assert_eq!(
        unique,
        due.iter().copied().collect::<HashSet<_>>(),
        "all due open orders, nothing else"
    );
    assert!(x
        .iter()
        .chain(y.iter())
        .all(|o| o.next_poll_at == Some(lease)));
    assert!(
        store
            .claim_due_polls(at, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased orders are not due"
    );
    let oldest_first = store
        .claim_due_polls(lease, lease + Duration::minutes(2), 1)
        .await
        .unwrap();
    assert_eq!(oldest_first.len(), 1);

    // The poller reschedules what it claimed only while its lease stands.
    let held = oldest_first[0].id;
    let held_lease = lease + Duration::minutes(2);
    let read = &store;
    let next_poll = |id| async move { read.get_order(id).await.unwrap().unwrap().next_poll_at };
    let soon = at + Duration::minutes(5);
    store
        .reschedule_claimed_poll(held, lease, Some(soon))
        .await
        .unwrap();
    assert_eq!(next_poll(held).await, Some(held_lease), "an older lease");
    store
        .reschedule_claimed_poll(held, held_lease, Some(soon))
        .await
        .unwrap();
    assert_eq!(next_poll(held).await, Some(soon));
    let reclaimed = store
        .claim_due_polls(soon, soon + Duration::minutes(2), 10)
        .await
        .unwrap();
    assert!(reclaimed.iter().any(|o| o.id == held));
    // A callback asks for a re-read while this one is in flight: it is not pushed back.
    store.set_next_poll(held, Some(soon)).await.unwrap();
    store
        .reschedule_claimed_poll(
            held,
            soon + Duration::minutes(2),
            Some(at + Duration::hours(1)),
        )
        .await
        .unwrap();
    assert_eq!(next_poll(held).await, Some(soon));

    store.set_next_poll(due[0], None).await.unwrap();
    assert_eq!(
        store.get_order(due[0]).await.unwrap().unwrap().next_poll_at,
        None
    );
}

async fn a_reread_asked_for_during_a_poll_outlives_its_change(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    let a = account(&store, p.id).await;
    let o = order(&a, Some("k"));
    store.insert_order(&o, &NewEvent::new("r")).await.unwrap();
    let next_poll = || async { store.get_order(o.id).await.unwrap().unwrap().next_poll_at };
    let open = |status, expected: OrderStatus, next: DateTime<Utc>| {
        let store = &store;
        async move {
            let mut c = change(status, "polled");
            c.next_poll_at = Some(next);
            store
                .update_order(o.id, expected, &c)
                .await
                .unwrap()
                .unwrap();
        }
    };

    let regular = now() + Duration::minutes(5);
    open(OrderStatus::Invited, OrderStatus::Pending, regular).await;
    assert_eq!(next_poll().await, Some(regular));
    // Claimed by a poll (the lease is in the future): its change sets the next regular poll.
    store
        .set_next_poll(o.id, Some(now() + Duration::minutes(2)))
        .await
        .unwrap();
    open(OrderStatus::InProgress, OrderStatus::Invited, regular).await;
    assert_eq!(next_poll().await, Some(regular));
    // A callback made it due while the poll was reading the vendor: it stays due.
    let asked = now();
    store.set_next_poll(o.id, Some(asked)).await.unwrap();
    open(OrderStatus::InProgress, OrderStatus::InProgress, regular).await;
    assert_eq!(next_poll().await, Some(asked));
    // A closed order is not polled, whatever was asked.
    let mut done = change(OrderStatus::Completed, "done");
    done.next_poll_at = None;
    store
        .update_order(o.id, OrderStatus::InProgress, &done)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next_poll().await, None);
}

async fn stale_pending_orders_are_listed_oldest_first(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    let a = account(&store, p.id).await;
    let at = now();
    let mut old = order(&a, Some("old"));
    old.updated_at = at - Duration::minutes(10);
    let mut older = order(&a, Some("older"));
    older.updated_at = at - Duration::minutes(20);
    let fresh = order(&a, Some("fresh"));
    let mut placed = order(&a, Some("placed"));
    placed.status = OrderStatus::Invited;
    placed.updated_at = at - Duration::hours(1);
    for o in [&old, &older, &fresh, &placed] {
        store.insert_order(o, &NewEvent::new("r")).await.unwrap();
    }
    let stale = store
        .list_stale_pending(at - Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(
        stale.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![older.id, old.id]
    );
    assert_eq!(
        store
            .list_stale_pending(at - Duration::minutes(5), 1)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// An invited order with a results URL, and a change of it to `status` carrying a delivery.
async fn invited_order(store: &DynStore) -> OrderRecord {
    let p = project(store).await;
    let a = account(store, p.id).await;
    let mut o = order(&a, Some("k"));
    o.status = OrderStatus::Invited;
    store.insert_order(&o, &NewEvent::new("r")).await.unwrap();
    o
}

async fn change_with_delivery(
    store: &DynStore,
    o: &OrderRecord,
    from: OrderStatus,
    to: OrderStatus,
) -> Uuid {
    let id = Uuid::now_v7();
    let mut c = change(to, "changed");
    c.delivery = Some(NewDelivery {
        id,
        url: "https://ats.example.com/r".into(),
        body: format!("{{\"state\":\"{to}\"}}"),
    });
    store.update_order(o.id, from, &c).await.unwrap().unwrap();
    id
}

fn attempt(delivery_id: Uuid, status: Option<i32>) -> AttemptRecord {
    AttemptRecord {
        id: 0,
        delivery_id,
        at: now(),
        status_code: status,
        duration_ms: 12,
        response_body: Some("ok".into()),
        error: None,
    }
}

async fn a_state_change_enqueues_its_delivery_which_is_claimed_once(db: TestDb) {
    let store = store(&db).await;
    let o = invited_order(&store).await;
    let id = change_with_delivery(&store, &o, OrderStatus::Invited, OrderStatus::InProgress).await;
    let at = now();
    let lease = at + Duration::seconds(60);
    let (x, y) = tokio::join!(
        store.claim_due_deliveries(at, lease, 10),
        store.claim_due_deliveries(at, lease, 10)
    );
    let claimed: Vec<_> = x.unwrap().into_iter().chain(y.unwrap()).collect();
    assert_eq!(claimed.len(), 1, "claimed by one worker only");
    let d = &claimed[0];
    assert_eq!(
        (d.id, d.order_id, d.status, d.attempts),
        (id, o.id, DeliveryStatus::Pending, 0)
    );
    assert_eq!(d.body, "{\"state\":\"in_progress\"}");
    assert!(
        store
            .claim_due_deliveries(at, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );

    store
        .record_attempt(
            d,
            lease,
            &attempt(id, Some(200)),
            &AttemptOutcome::Delivered,
        )
        .await
        .unwrap();
    let done = store.get_delivery(id).await.unwrap().unwrap();
    assert_eq!((done.status, done.attempts), (DeliveryStatus::Delivered, 1));
    assert!(done.delivered_at.is_some() && done.locked_until.is_none());
    let attempts = store.list_attempts(id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].status_code, attempts[0].duration_ms),
        (Some(200), 12)
    );
    let listed = store
        .list_deliveries(&DeliveryFilter {
            status: Some(DeliveryStatus::Delivered),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

/// Concurrent accepted attempts share statements and commits, yet each keeps its own outcome: an
/// attempt made under a lease that is no longer the delivery's is recorded without marking the
/// delivery delivered, one the database refuses (its delivery does not exist) fails alone, and
/// the others are delivered.
async fn concurrent_delivered_attempts_share_batches_and_keep_their_own_outcomes(db: TestDb) {
    let store = store(&db).await;
    for _ in 0..24 {
        let o = invited_order(&store).await;
        change_with_delivery(&store, &o, OrderStatus::Invited, OrderStatus::Completed).await;
    }
    let lease = now() + Duration::seconds(60);
    let claimed = store.claim_due_deliveries(now(), lease, 100).await.unwrap();
    assert_eq!(claimed.len(), 24);
    let stale = claimed[5].id;
    let mut ghost = claimed[9].clone();
    ghost.id = Uuid::now_v7();
    let writes = claimed
        .iter()
        .chain([&ghost])
        .map(|d| {
            let (store, d) = (store.clone(), d.clone());
            let held = if d.id == stale {
                lease + Duration::seconds(1)
            } else {
                lease
            };
            async move {
                store
                    .record_attempt(
                        &d,
                        held,
                        &attempt(d.id, Some(200)),
                        &AttemptOutcome::Delivered,
                    )
                    .await
            }
        })
        .collect();
    let outcomes = at_once(&store, writes).await;
    let failed: Vec<bool> = outcomes.iter().map(Result::is_err).collect();
    assert_eq!(
        failed,
        (0..25).map(|i| i == 24).collect::<Vec<_>>(),
        "only the attempt at a delivery that does not exist fails"
    );
    assert!(store.list_attempts(ghost.id).await.unwrap().is_empty());
    for d in &claimed {
        let now_ = store.get_delivery(d.id).await.unwrap().unwrap();
        let expected = if d.id == stale {
            (DeliveryStatus::Pending, 0, Some(lease))
        } else {
            (DeliveryStatus::Delivered, 1, None)
        };
        assert_eq!(
            (
                now_.status,
                now_.attempts,
                now_.locked_until.map(|t| t.timestamp_micros())
            ),
            (
                expected.0,
                expected.1,
                expected.2.map(|t| t.timestamp_micros())
            ),
            "delivery {}",
            d.id
        );
        assert_eq!(store.list_attempts(d.id).await.unwrap().len(), 1);
    }
}

async fn a_newer_state_waits_for_the_older_in_flight_and_replaces_it(db: TestDb) {
    let store = store(&db).await;
    let o = invited_order(&store).await;
    let first =
        change_with_delivery(&store, &o, OrderStatus::Invited, OrderStatus::InProgress).await;
    let at = now();
    let lease = at + Duration::seconds(60);
    let claimed = store.claim_due_deliveries(at, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    // While the older state is in flight, the order completes.
    let second =
        change_with_delivery(&store, &o, OrderStatus::InProgress, OrderStatus::Completed).await;
    assert!(
        store
            .claim_due_deliveries(now(), lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "the newer waits for the older in flight"
    );
    // The older attempt fails: it is not retried after the newer state.
    let retry_at = now() - Duration::seconds(1);
    store
        .record_attempt(
            &claimed[0],
            lease,
            &attempt(first, Some(503)),
            &AttemptOutcome::RetryAt(retry_at),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_delivery(first).await.unwrap().unwrap().status,
        DeliveryStatus::Superseded
    );
    let next = store.claim_due_deliveries(now(), lease, 10).await.unwrap();
    assert_eq!(next.iter().map(|d| d.id).collect::<Vec<_>>(), vec![second]);

    // Undelivered older states not in flight are replaced at once by a newer one.
    let o2 = invited_order(&store).await;
    let a = change_with_delivery(&store, &o2, OrderStatus::Invited, OrderStatus::InProgress).await;
    let b =
        change_with_delivery(&store, &o2, OrderStatus::InProgress, OrderStatus::Completed).await;
    assert_eq!(
        store.get_delivery(a).await.unwrap().unwrap().status,
        DeliveryStatus::Superseded
    );
    assert_eq!(
        store.get_delivery(b).await.unwrap().unwrap().status,
        DeliveryStatus::Pending
    );

    // A stale change with a delivery enqueues nothing and replaces nothing.
    let mut stale = change(OrderStatus::Expired, "late");
    stale.delivery = Some(NewDelivery {
        id: Uuid::now_v7(),
        url: "https://ats.example.com/r".into(),
        body: "{}".into(),
    });
    assert!(store
        .update_order(o2.id, OrderStatus::InProgress, &stale)
        .await
        .unwrap()
        .is_none());
    let of_o2 = store
        .list_deliveries(&DeliveryFilter {
            order_id: Some(o2.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        of_o2.iter().map(|d| (d.id, d.status)).collect::<Vec<_>>(),
        vec![
            (b, DeliveryStatus::Pending),
            (a, DeliveryStatus::Superseded)
        ]
    );
}

async fn an_expired_lease_lets_another_worker_deliver(db: TestDb) {
    let store = store(&db).await;
    let o = invited_order(&store).await;
    let id = change_with_delivery(&store, &o, OrderStatus::Invited, OrderStatus::Completed).await;
    let at = now();
    let dead_lease = at + Duration::seconds(5);
    let lost = store
        .claim_due_deliveries(at, dead_lease, 10)
        .await
        .unwrap();
    assert_eq!(lost.len(), 1, "a worker claims it, then dies");
    let later = at + Duration::seconds(6);
    let new_lease = later + Duration::seconds(60);
    let taken = store
        .claim_due_deliveries(later, new_lease, 10)
        .await
        .unwrap();
    assert_eq!(
        taken.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![id],
        "another worker takes it over"
    );
    // The first worker's late bookkeeping does not change the delivery; the attempt is kept.
    store
        .record_attempt(
            &lost[0],
            dead_lease,
            &attempt(id, None),
            &AttemptOutcome::Dead,
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_delivery(id).await.unwrap().unwrap().status,
        DeliveryStatus::Pending
    );
    store
        .record_attempt(
            &taken[0],
            new_lease,
            &attempt(id, Some(204)),
            &AttemptOutcome::Delivered,
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_delivery(id).await.unwrap().unwrap().status,
        DeliveryStatus::Delivered
    );
    assert_eq!(store.list_attempts(id).await.unwrap().len(), 2);

    // A released lease is claimable at once.
    let o2 = invited_order(&store).await;
    let other =
        change_with_delivery(&store, &o2, OrderStatus::Invited, OrderStatus::Completed).await;
    let lease = now() + Duration::seconds(60);
    store.claim_due_deliveries(now(), lease, 10).await.unwrap();
    store.release_delivery(other, lease).await.unwrap();
    assert_eq!(
        store
            .claim_due_deliveries(now(), lease, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn dead_deliveries_can_be_queued_again_when_newest(db: TestDb) {
    let store = store(&db).await;
    let o = invited_order(&store).await;
    let id = change_with_delivery(&store, &o, OrderStatus::Invited, OrderStatus::Completed).await;
    let lease = now() + Duration::seconds(60);
    let claimed = store.claim_due_deliveries(now(), lease, 10).await.unwrap();
    store
        .record_attempt(
            &claimed[0],
            lease,
            &attempt(id, Some(410)),
            &AttemptOutcome::Dead,
        )
        .await
        .unwrap();
    let dead = store.get_delivery(id).await.unwrap().unwrap();
    assert_eq!(
        (dead.status, dead.last_error.as_deref()),
        (DeliveryStatus::Dead, Some("the receiver answered 410"))
    );
    assert!(store.requeue_delivery(id, now()).await.unwrap().is_some());
    assert!(
        store.requeue_delivery(id, now()).await.unwrap().is_none(),
        "already pending"
    );
    assert_eq!(
        store
            .claim_due_deliveries(now(), lease, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn rotation_keeps_the_replaced_secret_until_its_time(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    let until = now() + Duration::hours(24);
    let rotated = store
        .rotate_signing_secret(p.id, &[7, 7], until)
        .await
        .unwrap()
        .expect("project exists");
    assert_eq!(rotated.signing_secret_sealed, vec![7, 7]);
    assert_eq!(rotated.previous_signing_secret_sealed, Some(vec![1, 2, 3]));
    assert_eq!(
        rotated.previous_signing_valid_until.map(|t| t.timestamp()),
        Some(until.timestamp())
    );
    let again = store
        .rotate_signing_secret(p.id, &[8], until)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.previous_signing_secret_sealed, Some(vec![7, 7]));
    assert!(store
        .rotate_signing_secret(Uuid::now_v7(), &[8], until)
        .await
        .unwrap()
        .is_none());
    let mut renamed = again.clone();
    renamed.name = "renamed".into();
    renamed.retention_days = Some(30);
    assert!(store.update_project(&renamed).await.unwrap());
    let read = store.get_project(p.id).await.unwrap().unwrap();
    assert_eq!(
        (read.name.as_str(), read.retention_days),
        ("renamed", Some(30))
    );
}

async fn an_erased_order_keeps_no_personal_data_and_is_found_no_more(db: TestDb) {
    let store = store(&db).await;
    let o = invited_order(&store).await;
    let found = store
        .find_orders_by_email(o.project_id, "ADA@example.com")
        .await
        .unwrap();
    assert_eq!(found.iter().map(|f| f.id).collect::<Vec<_>>(), vec![o.id]);
    let delivery =
        change_with_delivery(&store, &o, OrderStatus::Invited, OrderStatus::Completed).await;
    let closed = store
        .list_expired_orders(o.project_id, now() + Duration::hours(1), 10)
        .await
        .unwrap();
    assert_eq!(closed.iter().map(|c| c.id).collect::<Vec<_>>(), vec![o.id]);
    assert!(store
        .list_expired_orders(o.project_id, now() - Duration::hours(1), 10)
        .await
        .unwrap()
        .is_empty());
    let events = store.list_order_events(o.id).await.unwrap();
    let request: OrderRequest =
        serde_json::from_value(json!({"id": "k", "package": {"id": "p1"}})).unwrap();
    store
        .erase_order(&OrderErasure {
            order_id: o.id,
            at: now(),
            request,
            result: None,
            provider_data: json!({}),
            failure_reason: None,
            event_messages: events.iter().map(|e| (e.id, "[erased]".into())).collect(),
            deliveries: vec![(delivery, "{}".into(), None)],
            attempt_errors: vec![],
        })
        .await
        .unwrap();
    let erased = store.get_order(o.id).await.unwrap().unwrap();
    assert!(erased.erased_at.is_some());
    assert_eq!(erased.candidate_email, "");
    assert_eq!(erased.request_hash, "erased");
    // Nothing more is written to it: a late vendor report changes nothing.
    assert!(store
        .update_order(
            o.id,
            OrderStatus::Completed,
            &change(OrderStatus::Completed, "late")
        )
        .await
        .unwrap()
        .is_none());
    assert!(!serde_json::to_string(&erased.request)
        .unwrap()
        .contains("ada@"));
    assert!(store
        .list_order_events(o.id)
        .await
        .unwrap()
        .iter()
        .all(|e| e.message == "[erased]"));
    assert!(store
        .find_orders_by_email(o.project_id, "ada@example.com")
        .await
        .unwrap()
        .is_empty());
    let expired = store
        .list_expired_orders(o.project_id, now() + Duration::hours(1), 10)
        .await
        .unwrap();
    assert!(expired.is_empty(), "erased orders are not listed again");
}

async fn audit_events_list_newest_first_by_project_and_action(db: TestDb) {
    let store = store(&db).await;
    let p = project(&store).await;
    let event = |action: &str, project_id| NewAuditEvent {
        at: now(),
        actor: "admin_api".into(),
        action: action.into(),
        target: None,
        project_id,
        outcome: "succeeded".into(),
        status_code: 200,
        request_id: Some("req-1".into()),
    };
    for e in [
        event("project.create", Some(p.id)),
        event("console.sign_in", None),
        event("order.cancel", Some(p.id)),
    ] {
        store.insert_audit_event(&e).await.unwrap();
    }
    let all = store
        .list_audit_events(&AuditFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = all.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(
        actions,
        ["order.cancel", "console.sign_in", "project.create"]
    );
    let of_project = store
        .list_audit_events(&AuditFilter {
            project_id: Some(p.id),
            action: Some("project.create".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(of_project.len(), 1);
    let page = store
        .list_audit_events(&AuditFilter {
            before: Some(all[0].id),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page[0].event.action, "console.sign_in");
}

on_both_databases!(
    concurrent_order_writes_share_batches_and_keep_their_own_outcomes,
    concurrent_delivered_attempts_share_batches_and_keep_their_own_outcomes,
    rotation_keeps_the_replaced_secret_until_its_time,
    an_erased_order_keeps_no_personal_data_and_is_found_no_more,
    audit_events_list_newest_first_by_project_and_action,
    orders_are_found_by_one_search_and_counted_by_status,
    the_orders_holding_an_invitation_are_found_within_their_account,
    a_reread_asked_for_during_a_poll_outlives_its_change,
    a_state_change_enqueues_its_delivery_which_is_claimed_once,
    a_newer_state_waits_for_the_older_in_flight_and_replaces_it,
    an_expired_lease_lets_another_worker_deliver,
    dead_deliveries_can_be_queued_again_when_newest,
    stale_pending_orders_are_listed_oldest_first,
    projects_keys_and_accounts_round_trip,
    an_order_key_is_unique_per_account,
    concurrent_inserts_with_one_key_make_one_order,
    a_failing_write_among_concurrent_ones_is_undone_alone,
    order_changes_are_compare_and_set_with_their_event,
    orders_list_newest_first_with_filters_and_cursor,
    due_polls_are_claimed_once_under_a_lease,
);
