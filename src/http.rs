//! The management API on `metrics.listen`: `/metrics` (Prometheus text
//! format) and the JSON API under `/api/v1/`, as an axum router served by
//! `moose-mgmt`'s bounded server (connection limit, timeouts, size limits,
//! panics caught; see that crate).
//!
//! Handlers never touch a device or a table: they read the workers'
//! published counters directly and ask the control thread for everything
//! else, each call bounded by [`CALL_TIMEOUT`]. Large answers are paged:
//! `/api/v1/fdb` streams the whole table as pages of [`FDB_PAGE`] entries
//! (memory bounded by a page, whatever the table's size), or returns one
//! page with `?limit=N&after=VLAN/MAC`.
//!
//! Changes: `POST /api/v1/reload` reads the config file again and applies
//! what can change live ([`crate::reload`]); `POST`/`DELETE` on
//! `/api/v1/routes` and `/api/v1/fdb` add and remove static routes and
//! entries (the API's own: the file's are changed in the file). Bad input
//! is a 4xx whose message names the field.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use moose_control::bridge::api::{
    AddStatic, BridgeStats, FdbCursor, FdbPage, FdbQuery, FdbRecord, RemoveStatic, StatsQuery,
    MAX_PAGE,
};
use moose_control::home::api::{HomeQuery, HomeReport};
use moose_control::hosts::api::{HostRecord, HostsPage, HostsQuery};
use moose_control::mps::api::{
    MacGrant, MacQuery, MacReclaim, MacRecord, MacRelease, MacRequest, PoolReport, PoolsQuery,
};
use moose_control::nic::{Link, NicCounters, NicQuery, NicReport, XstatsQuery};
use moose_control::nicslots::api::{
    Modify, ModifyBody, PortSlots, Reserve, ReserveBody, SlotGet, SlotRecord, SlotsQuery,
    Unreserve, UnreserveBody,
};
use moose_control::reserved::api::{ReservedStats, StatsQuery as ReservedQuery};
use moose_control::routes::api::{AddRoute, Ports, RemoveRoute, RouteRecord, RoutesQuery};
use moose_control::routing::api::{
    LsdbQuery, LsdbRecord, NeighborRecord, NeighborsQuery, RoutingQuery, RoutingStats, TreeQuery,
    TreeReport,
};
use moose_control::runtime::{calls, RuntimeStats};
use moose_control::{Call, CallError, Refusal, RefusalKind};
use moose_dataplane::counters::{DropReason, PortTotals, PuntCounter, WorkerCounter};
use moose_dataplane::PuntClass;
use serde::{Deserialize, Serialize};

use crate::app::Shared;

/// Longest wait for the control thread per call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a MAC provider request may wait for its answer: with etcd it
/// waits behind the commits before it, each up to `mps.etcd_timeout_ms`.
pub const MPS_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Entries per page when `/api/v1/fdb` streams the whole table.
pub const FDB_PAGE: usize = 1000;

type St = State<Arc<Shared>>;

pub fn router(shared: Arc<Shared>) -> Router {
    let mut r = Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/api/v1/ports", get(ports))
        .route("/api/v1/fdb", get(fdb).post(add_fdb).delete(remove_fdb))
        .route("/api/v1/xstats", get(xstats))
        .route("/api/v1/status", get(status))
        .route("/api/v1/counters", get(counters))
        .route("/api/v1/hosts", get(hosts))
        .route(
            "/api/v1/routes",
            get(routes).post(add_route).delete(remove_route),
        )
        .route("/api/v1/reload", post(reload))
        .route("/api/v1/home", get(home))
        .route("/api/v1/neighbors", get(neighbors))
        .route("/api/v1/lsdb", get(lsdb))
        .route("/api/v1/tree", get(tree))
        .route("/api/v1/routing", get(routing))
        .route("/api/v1/directory", get(directory))
        .route("/api/v1/elk", get(elk))
        .route("/api/v1/dhcp/leases", get(dhcp_leases))
        .route("/api/v1/mac", get(mac_show))
        .route("/api/v1/mac/request", post(mac_request))
        .route("/api/v1/mac/release", post(mac_release))
        .route("/api/v1/mac/reclaim", post(mac_reclaim))
        .route("/api/v1/mac/pools", get(mac_pools))
        .route("/api/v1/slots", get(slots))
        .route(
            "/api/v1/slots/{port}/{what}",
            get(slot_get).post(slot_change),
        );
    // Fault injection for the test suite: a handler that panics, to show a
    // panic in management takes nothing down. Off unless asked for.
    if std::env::var_os("MOOSE_TEST_FAULTS").is_some_and(|v| v == "1") {
        r = r.route("/api/v1/debug/panic", get(panic_handler));
    }
    r.with_state(shared)
}

async fn panic_handler() -> &'static str {
    panic!("test fault: a panic in a management handler")
}

/// An error answer: a status and a plain message (never the request's
/// content).
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> ApiError {
        ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        let status = match r.kind {
            RefusalKind::Invalid => StatusCode::BAD_REQUEST,
            RefusalKind::NotFound => StatusCode::NOT_FOUND,
            RefusalKind::Conflict => StatusCode::CONFLICT,
            RefusalKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError(status, r.message)
    }
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// A JSON request body as `T`; the error names the field serde names.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("body: {e} (expected {shape})")))
}

/// `POST /api/v1/reload`: the config file read again and applied, all of
/// it or nothing: 200 `{applied, refused: []}`; 409 `{applied: [],
/// refused: [...]}` when a key cannot change while running; 422
/// `{error}` when the file does not parse or validate.
async fn reload(State(s): St) -> Response {
    use crate::reload::Outcome;
    let o = match crate::reload::load(&s.config_path) {
        Err(o) => o,
        Ok(cfg) => match ask(
            &s,
            calls::Reload {
                config: Box::new(cfg),
            },
        )
        .await
        {
            Ok(r) => crate::reload::outcome(r),
            Err(e) => Outcome::Unanswered(e.1),
        },
    };
    crate::reload::log(&s.config_path, &o);
    match o {
        Outcome::Applied(r) => Json(r).into_response(),
        Outcome::Refused(r) => (StatusCode::CONFLICT, Json(r)).into_response(),
        Outcome::Invalid(e) => ApiError(StatusCode::UNPROCESSABLE_ENTITY, e).into_response(),
        Outcome::Unanswered(e) => ApiError(StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    }
}

/// `POST /api/v1/routes` `{"prefix": "02:22:22:00:00:00/24", "port": "f0"}`
/// (or a list of ports: ECMP).
async fn add_route(State(s): St, body: Bytes) -> Result<Json<RouteRecord>, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        prefix: String,
        port: serde_json::Value,
    }
    let b: Body = json_body(&body, r#"{"prefix": "02:22:22:00:00:00/24", "port": "f0"}"#)?;
    let port = match b.port {
        serde_json::Value::String(p) => Ports::One(p),
        serde_json::Value::Array(v) => Ports::Many(
            v.into_iter()
                .map(|p| match p {
                    serde_json::Value::String(p) => Ok(p),
                    _ => Err(bad_request(
                        "port: expected a port name or a list of port names",
                    )),
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => {
            return Err(bad_request(
                "port: expected a port name or a list of port names",
            ))
        }
    };
    no_moose_routes(&s)?;
    Ok(Json(
        ask(
            &s,
            AddRoute {
                prefix: b.prefix,
                port,
            },
        )
        .await??,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteParams {
    prefix: Option<String>,
}

/// `DELETE /api/v1/routes?prefix=02:22:22:00:00:00/24`.
async fn remove_route(
    State(s): St,
    q: Result<Query<RouteParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RouteRecord>, ApiError> {
    let Query(q) = q.map_err(|_| bad_request("query: only prefix=PREFIX is understood"))?;
    let prefix = q
        .prefix
        .ok_or_else(|| bad_request("prefix: required, as in ?prefix=02:22:22:00:00:00/24"))?;
    no_moose_routes(&s)?;
    Ok(Json(ask(&s, RemoveRoute { prefix }).await??))
}

/// MAC routes are a MOOSE switch's (its routing service keeps them).
fn no_moose_routes(s: &Shared) -> Result<(), ApiError> {
    match s.cfg.moose {
        Some(_) => Ok(()),
        None => Err(ApiError(
            StatusCode::CONFLICT,
            "prefix: MAC routes need a [moose] table".into(),
        )),
    }
}

/// `POST /api/v1/fdb` `{"mac": "02:00:00:00:00:01", "vlan": 1, "port": "p1"}`
/// (`vlan` 1 if omitted).
async fn add_fdb(State(s): St, body: Bytes) -> Result<Json<FdbRecord>, ApiError> {
    let a: AddStatic = json_body(
        &body,
        r#"{"mac": "02:00:00:00:00:01", "vlan": 1, "port": "p1"}"#,
    )?;
    Ok(Json(ask(&s, a).await??))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FdbEntryParams {
    mac: Option<String>,
    vlan: Option<String>,
}

/// `DELETE /api/v1/fdb?mac=02:00:00:00:00:01&vlan=1` (`vlan` 1 if
/// omitted).
async fn remove_fdb(
    State(s): St,
    q: Result<Query<FdbEntryParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<FdbRecord>, ApiError> {
    let Query(q) = q.map_err(|_| bad_request("query: only mac=MAC and vlan=N are understood"))?;
    let mac = q
        .mac
        .ok_or_else(|| bad_request("mac: required, as in ?mac=02:00:00:00:00:01&vlan=1"))?;
    let vlan = match q.vlan {
        None => 1,
        Some(v) => v
            .parse::<u32>()
            .map_err(|_| bad_request(format!("vlan: {v:?} is not a VLAN id")))?,
    };
    Ok(Json(ask(&s, RemoveStatic { mac, vlan }).await??))
}

/// One call to the control thread, bounded in time.
async fn ask<C: Call>(s: &Shared, c: C) -> Result<C::Reply, ApiError> {
    match tokio::time::timeout(CALL_TIMEOUT, s.control.call(c)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(CallError::Timeout(CALL_TIMEOUT).into()),
    }
}

async fn index() -> &'static str {
    "moose: /metrics /api/v1/ports /api/v1/fdb /api/v1/hosts /api/v1/routes /api/v1/home /api/v1/xstats /api/v1/status /api/v1/counters\n"
}

/// `?limit=&after=` of a paged listing.
fn page_params(q: &FdbParams) -> Result<(Option<usize>, Option<FdbCursor>), ApiError> {
    let after = match &q.after {
        Some(a) => Some(a.parse::<FdbCursor>().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                "after: expected VLAN/MAC, like 1/02:00:00:00:00:01".into(),
            )
        })?),
        None => None,
    };
    let limit = match &q.limit {
        Some(l) => Some(
            l.parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    ApiError(
                        StatusCode::BAD_REQUEST,
                        format!("limit: must be 1..={MAX_PAGE}"),
                    )
                })?,
        ),
        None => None,
    };
    Ok((limit, after))
}

fn bad_query() -> ApiError {
    ApiError(
        StatusCode::BAD_REQUEST,
        "query: only limit=N (1..=10000) and after=VLAN/MAC are understood".into(),
    )
}

/// This switch's hosts (a MOOSE switch): a JSON list of `{vlan, mac,
/// moose_mac, port, last_seen_ms, id}`, or one page `{entries, next}` with
/// `?limit=`.
async fn hosts(
    State(s): St,
    q: Result<Query<FdbParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    if s.cfg.moose.is_none() {
        return Ok(Json(Vec::<HostRecord>::new()).into_response());
    }
    let Query(q) = q.map_err(|_| bad_query())?;
    let (limit, mut after) = page_params(&q)?;
    if let Some(limit) = limit {
        let page: HostsPage = ask(&s, HostsQuery { limit, after }).await?;
        return Ok(Json(page).into_response());
    }
    stream_all::<HostsQuery>(s, after.take()).await
}

/// The FIB: `{prefix, ports, up, source, local, installed}`.
async fn routes(State(s): St) -> Result<Json<Vec<RouteRecord>>, ApiError> {
    if s.cfg.moose.is_none() {
        return Ok(Json(Vec::new()));
    }
    Ok(Json(ask(&s, RoutesQuery).await?))
}

/// Each edge and legacy port's segment home, and the hello counters.
async fn home(State(s): St) -> Result<Json<HomeReport>, ApiError> {
    if s.cfg.moose.is_none() {
        return Ok(Json(HomeReport::default()));
    }
    Ok(Json(ask(&s, HomeQuery).await?))
}

/// Each fabric port's neighbour: `{port, state, switch_id, prefix, …}`.
async fn neighbors(State(s): St) -> Result<Json<Vec<NeighborRecord>>, ApiError> {
    if s.cfg.moose.is_none() {
        return Ok(Json(Vec::new()));
    }
    Ok(Json(ask(&s, NeighborsQuery).await?))
}

/// The link-state database, one advertisement per switch.
async fn lsdb(State(s): St) -> Result<Json<Vec<LsdbRecord>>, ApiError> {
    if s.cfg.moose.is_none() {
        return Ok(Json(Vec::new()));
    }
    Ok(Json(ask(&s, LsdbQuery).await?))
}

/// The protocol's state and figures: switch id, prefix, neighbours by
/// state, counters.
async fn routing(State(s): St) -> Result<Json<RoutingStats>, ApiError> {
    if s.cfg.moose.is_none() {
        return Ok(Json(RoutingStats::default()));
    }
    Ok(Json(ask(&s, RoutingQuery).await?))
}

/// The `elk` service's figures (all zero with ELK off).
async fn elk(State(s): St) -> Result<Json<moose_control::elk::api::ElkStats>, ApiError> {
    if !s.cfg.elk.enabled {
        return Ok(Json(Default::default()));
    }
    Ok(Json(ask(&s, moose_control::elk::api::StatsQuery).await?))
}

/// The built-in DHCP server's leases (none without `[[dhcp.pool]]`).
async fn dhcp_leases(
    State(s): St,
) -> Result<Json<Vec<moose_control::elk::api::LeaseRecord>>, ApiError> {
    if !s.cfg.elk.enabled {
        return Ok(Json(Vec::new()));
    }
    Ok(Json(ask(&s, moose_control::elk::api::LeasesQuery).await?))
}

/// `GET /api/v1/slots`: each port's MAC filter — mode (`filter`,
/// `software`, `promiscuous`), emulated or not, entries total and free,
/// the burned-in address, the frames filtered in software, every slot.
async fn slots(State(s): St) -> Result<Json<Vec<PortSlots>>, ApiError> {
    let mut v = ask(&s, SlotsQuery).await?;
    for (i, p) in v.iter_mut().enumerate() {
        p.filtered_frames = PortTotals::sum(&s.stats, i as u16).dropped(DropReason::NotAccepted);
    }
    Ok(Json(v))
}

/// `GET /api/v1/slots/{port}/{slot}`: a slot's active address and state
/// (a free slot answers with the burned-in address).
async fn slot_get(
    State(s): St,
    axum::extract::Path((port, slot)): axum::extract::Path<(String, String)>,
) -> Result<Json<SlotRecord>, ApiError> {
    let slot = slot
        .parse::<usize>()
        .map_err(|_| bad_request(format!("slot: {slot:?} is not a slot number")))?;
    Ok(Json(ask(&s, SlotGet { port, slot }).await??))
}

/// `POST /api/v1/slots/{port}/reserve` `{owner, mac}` → `{port, slot, mac,
/// token, in_nic, mode}`; `…/unreserve` `{slot, token}` → the port;
/// `…/modify` `{slot, token, mac}` → the reservation. Only the token's
/// holder changes a reservation (409 otherwise).
async fn slot_change(
    State(s): St,
    axum::extract::Path((port, what)): axum::extract::Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    Ok(match what.as_str() {
        "reserve" => {
            let b: ReserveBody =
                json_body(&body, r#"{"owner": "...", "mac": "aa:bb:cc:dd:ee:ff"}"#)?;
            let r = ask(
                &s,
                Reserve {
                    port,
                    owner: b.owner,
                    mac: b.mac,
                },
            )
            .await??;
            Json(r).into_response()
        }
        "unreserve" => {
            let b: UnreserveBody = json_body(&body, r#"{"slot": N, "token": "..."}"#)?;
            let r = ask(
                &s,
                Unreserve {
                    port,
                    slot: b.slot,
                    token: b.token,
                },
            )
            .await??;
            Json(r).into_response()
        }
        "modify" => {
            let b: ModifyBody = json_body(&body, r#"{"slot": N, "token": "...", "mac": "..."}"#)?;
            let r = ask(
                &s,
                Modify {
                    port,
                    slot: b.slot,
                    token: b.token,
                    mac: b.mac,
                },
            )
            .await??;
            Json(r).into_response()
        }
        other => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("no such slot operation {other:?} (reserve, unreserve, modify)"),
            ))
        }
    })
}

/// The MAC provider's calls answer 404 on a switch without `[mps]`.
fn no_mps(s: &Shared) -> Result<(), ApiError> {
    if s.cfg.mps.is_none() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "this switch has no MAC provider ([mps] is not configured)".into(),
        ));
    }
    Ok(())
}

/// [`ask`] with [`MPS_CALL_TIMEOUT`], waiting (within it) while the control
/// thread's queue is full: a burst of allocation requests queues at its
/// connections instead of failing; memory stays bounded by them.
async fn ask_patiently<C: Call + Clone>(s: &Shared, c: C) -> Result<C::Reply, ApiError> {
    let deadline = tokio::time::Instant::now() + MPS_CALL_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, s.control.call(c.clone())).await {
            Ok(Err(CallError::Busy)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(r) => return Ok(r?),
            Err(_) => return Err(CallError::Timeout(MPS_CALL_TIMEOUT).into()),
        }
    }
}

/// `POST /api/v1/mac/request` `{handle, requested?, pool?, ipv4?,
/// quadrant?}` → `{mac, pool, new, requested?}`, answered once durable;
/// 400 naming the field, 409 exhausted or over quota, 503 store failure.
async fn mac_request(State(s): St, body: Bytes) -> Result<Json<MacGrant>, ApiError> {
    no_mps(&s)?;
    let r: MacRequest = json_body(
        &body,
        r#"{"handle": "...", "requested"?: "mac", "pool"?: "name", "ipv4"?: "a.b.c.d", "quadrant"?: "aai|eli"}"#,
    )?;
    Ok(Json(ask_patiently(&s, r).await??))
}

/// `POST /api/v1/mac/release` `{handle}` → the assignment ended.
async fn mac_release(State(s): St, body: Bytes) -> Result<Json<MacRecord>, ApiError> {
    no_mps(&s)?;
    let r: MacRelease = json_body(&body, r#"{"handle": "..."}"#)?;
    Ok(Json(ask_patiently(&s, r).await??))
}

/// `POST /api/v1/mac/reclaim` `{mac}` (administrator) → the assignment
/// ended.
async fn mac_reclaim(State(s): St, body: Bytes) -> Result<Json<MacRecord>, ApiError> {
    no_mps(&s)?;
    let r: MacReclaim = json_body(&body, r#"{"mac": "aa:bb:cc:dd:ee:ff"}"#)?;
    Ok(Json(ask_patiently(&s, r).await??))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MacParams {
    handle: Option<String>,
    mac: Option<String>,
}

/// `GET /api/v1/mac?handle=…` or `?mac=…` → `{handle, mac, pool}`.
async fn mac_show(
    State(s): St,
    q: Result<Query<MacParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MacRecord>, ApiError> {
    no_mps(&s)?;
    let Query(q) =
        q.map_err(|e| bad_request(format!("query: {e} (expected ?handle=… or ?mac=…)")))?;
    let c = MacQuery {
        handle: q.handle,
        mac: q.mac,
    };
    Ok(Json(ask_patiently(&s, c).await??))
}

/// `GET /api/v1/mac/pools` → `[{name, policy, quadrant, first, last,
/// size, used, free, quotas, lifetime_secs}]`.
async fn mac_pools(State(s): St) -> Result<Json<Vec<PoolReport>>, ApiError> {
    no_mps(&s)?;
    Ok(Json(ask(&s, PoolsQuery).await?))
}

/// `?offset=&limit=` of `/api/v1/directory`.
#[derive(Debug, Deserialize)]
struct DirectoryParams {
    offset: Option<usize>,
    limit: Option<usize>,
}

/// The ELK bindings this switch holds (own, directory, cache), one page
/// `{total, offset, bindings, next}`; `limit` defaults to 1000.
async fn directory(
    State(s): St,
    q: Result<Query<DirectoryParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<moose_control::elk::api::DirectoryPage>, ApiError> {
    let bad = || {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "query: only offset=N and limit=N (1..={}) are understood",
                moose_control::elk::api::MAX_PAGE
            ),
        )
    };
    let Query(q) = q.map_err(|_| bad())?;
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > moose_control::elk::api::MAX_PAGE {
        return Err(bad());
    }
    if !s.cfg.elk.enabled {
        return Ok(Json(moose_control::elk::api::DirectoryPage {
            total: 0,
            offset,
            bindings: Vec::new(),
            next: None,
        }));
    }
    Ok(Json(
        ask(
            &s,
            moose_control::elk::api::DirectoryQuery { offset, limit },
        )
        .await?,
    ))
}

/// The broadcast tree and this switch's ports on it.
async fn tree(State(s): St) -> Result<Json<TreeReport>, ApiError> {
    if s.cfg.moose.is_none() {
        return Ok(Json(TreeReport::default()));
    }
    Ok(Json(ask(&s, TreeQuery).await?))
}

async fn metrics(State(s): St) -> Response {
    let g = crate::metrics::Gathered {
        runtime: ask(&s, calls::Status).await.ok(),
        bridge: ask(&s, StatsQuery).await.ok(),
        reserved: ask(&s, ReservedQuery).await.ok(),
        nic: ask(&s, NicQuery).await.ok(),
        hosts: match s.cfg.moose {
            Some(_) => ask(&s, moose_control::hosts::api::StatsQuery).await.ok(),
            None => None,
        },
        routes: match s.cfg.moose {
            Some(_) => ask(&s, moose_control::routes::api::StatsQuery).await.ok(),
            None => None,
        },
        home: match s.cfg.moose {
            Some(_) => ask(&s, HomeQuery).await.ok(),
            None => None,
        },
        routing: match s.cfg.moose {
            Some(_) => ask(&s, RoutingQuery).await.ok(),
            None => None,
        },
        elk: match s.cfg.elk.enabled {
            true => ask(&s, moose_control::elk::api::StatsQuery).await.ok(),
            false => None,
        },
        mps: match s.cfg.mps {
            Some(_) => {
                let stats = ask(&s, moose_control::mps::api::StatsQuery).await.ok();
                let pools = ask(&s, PoolsQuery).await.ok();
                stats.zip(pools)
            }
            None => None,
        },
    };
    let text = crate::metrics::render(&s, &g);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// One port as `/api/v1/ports` shows it (and `moose show ports` reads it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PortView {
    pub index: usize,
    pub name: String,
    pub role: String,
    pub device: String,
    pub kernel_iface: Option<String>,
    pub dpdk_port: u16,
    pub driver: String,
    pub mac: String,
    pub pvid: u16,
    /// `"all"` or a list of VLAN ids.
    pub vlans: serde_json::Value,
    /// Storm control: `{broadcast_pps, multicast_pps, unknown_unicast_pps}`,
    /// each omitted when unlimited.
    #[serde(default)]
    pub storm: BTreeMap<String, u32>,
    #[serde(default)]
    pub learn_limit: Option<u32>,
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_queue_workers: Vec<usize>,
    pub mtu: Option<u16>,
    pub link: Option<Link>,
    pub counters: PortTotals,
    pub nic: Option<NicCounters>,
}

fn vlans_json(pc: &moose_config::PortConfig) -> serde_json::Value {
    if pc.vlans.is_all() {
        serde_json::json!("all")
    } else {
        serde_json::json!(pc.vlans.iter().collect::<Vec<_>>())
    }
}

fn storm_json(st: &moose_config::Storm) -> BTreeMap<String, u32> {
    [
        ("broadcast_pps", st.broadcast_pps),
        ("multicast_pps", st.multicast_pps),
        ("unknown_unicast_pps", st.unknown_unicast_pps),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    .collect()
}

async fn ports(State(s): St) -> Result<Json<Vec<PortView>>, ApiError> {
    let nic: NicReport = ask(&s, NicQuery).await?;
    // The running config: pvids, VLANs and rates as reloads left them.
    let running = ask(&s, calls::Running).await?;
    let list = s
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let pc = running
                .as_ref()
                .and_then(|c| c.ports.get(i))
                .unwrap_or(&s.cfg.ports[i]);
            let n = nic.ports.get(i);
            PortView {
                index: i,
                name: p.name.clone(),
                role: serde_json::to_value(p.role)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                device: p.device.clone(),
                kernel_iface: p.kernel_iface.clone(),
                dpdk_port: p.dpdk_port,
                driver: p.driver.clone(),
                mac: p.mac.to_string(),
                pvid: pc.pvid.get(),
                vlans: vlans_json(pc),
                storm: storm_json(&pc.storm),
                learn_limit: pc.learn_limit,
                rx_queues: p.rx_queues,
                tx_queues: p.tx_queues,
                rx_queue_workers: p.rx_workers.clone(),
                mtu: n.and_then(|n| n.mtu),
                link: n.map(|n| n.link.clone()),
                counters: PortTotals::sum(&s.stats, i as u16),
                nic: n.and_then(|n| n.counters.clone()),
            }
        })
        .collect();
    Ok(Json(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FdbParams {
    limit: Option<String>,
    after: Option<String>,
}

async fn fdb(
    State(s): St,
    q: Result<Query<FdbParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "query: only limit=N (1..=10000) and after=VLAN/MAC are understood".into(),
        )
    })?;
    let after = match &q.after {
        Some(a) => Some(a.parse::<FdbCursor>().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                "after: expected VLAN/MAC, like 1/02:00:00:00:00:01".into(),
            )
        })?),
        None => None,
    };
    if let Some(l) = &q.limit {
        let limit = l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("limit: must be 1..={MAX_PAGE}"),
                )
            })?;
        let page: FdbPage = ask(&s, FdbQuery { limit, after }).await?;
        return Ok(Json(page).into_response());
    }
    stream_all::<FdbQuery>(s, after).await
}

/// A call that answers one page of a listing.
trait PageCall: Call + Sized {
    type Entry: Serialize + Send + 'static;
    fn at(after: Option<FdbCursor>, limit: usize) -> Self;
    fn split(reply: Self::Reply) -> (Vec<Self::Entry>, Option<String>);
}

impl PageCall for FdbQuery {
    type Entry = moose_control::bridge::api::FdbRecord;
    fn at(after: Option<FdbCursor>, limit: usize) -> Self {
        FdbQuery { limit, after }
    }
    fn split(r: FdbPage) -> (Vec<Self::Entry>, Option<String>) {
        (r.entries, r.next)
    }
}

impl PageCall for HostsQuery {
    type Entry = HostRecord;
    fn at(after: Option<FdbCursor>, limit: usize) -> Self {
        HostsQuery { limit, after }
    }
    fn split(r: HostsPage) -> (Vec<Self::Entry>, Option<String>) {
        (r.entries, r.next)
    }
}

/// A whole listing as one JSON array, streamed page by page from the
/// control thread: memory bounded by a page of [`FDB_PAGE`], whatever the
/// listing's size. If the control thread stops answering half way, the
/// body ends with an error (a broken transfer, never a silently short list).
async fn stream_all<C: PageCall>(
    s: Arc<Shared>,
    after: Option<FdbCursor>,
) -> Result<Response, ApiError> {
    let first = C::split(ask(&s, C::at(after, FDB_PAGE)).await?);
    // State: the page to write (None when done), whether the array has
    // started, and whether an entry has been written (for the commas).
    let stream = futures_util::stream::unfold(
        (s, Some(first), false, false),
        |(s, page, started, mut emitted)| async move {
            let (entries, next) = page?;
            let mut out = String::new();
            if !started {
                out.push('[');
            }
            for e in &entries {
                if emitted {
                    out.push(',');
                }
                emitted = true;
                out.push('\n');
                out.push_str(&serde_json::to_string(e).unwrap_or_default());
            }
            let next = match next.as_deref().and_then(|c| c.parse::<FdbCursor>().ok()) {
                Some(after) => match ask(&s, C::at(Some(after), FDB_PAGE)).await {
                    Ok(p) => Some(C::split(p)),
                    Err(_) => {
                        return Some((
                            Err(std::io::Error::other("control thread did not answer")),
                            (s, None, true, emitted),
                        ))
                    }
                },
                None => {
                    out.push_str("\n]\n");
                    None
                }
            };
            Some((
                Ok::<_, std::io::Error>(Bytes::from(out)),
                (s, next, true, emitted),
            ))
        },
    );
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

async fn xstats(State(s): St) -> Result<Json<serde_json::Value>, ApiError> {
    let x = ask(&s, XstatsQuery).await?;
    Ok(Json(serde_json::to_value(x).unwrap_or_default()))
}

/// `/api/v1/status` (and `moose show status`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusView {
    pub switch: String,
    pub version: String,
    pub dpdk: String,
    pub uptime_secs: f64,
    pub workers: usize,
    pub ports: usize,
    pub runtime: RuntimeStats,
    pub bridge: BridgeStats,
    pub reserved: ReservedStats,
    /// The management server's counters, by metric name.
    pub api: Option<BTreeMap<String, u64>>,
}

async fn status(State(s): St) -> Result<Json<StatusView>, ApiError> {
    Ok(Json(StatusView {
        switch: s.cfg.name.clone(),
        version: crate::VERSION.to_string(),
        dpdk: moose_dpdk::version(),
        uptime_secs: s.started.elapsed().as_secs_f64(),
        workers: s.cfg.dataplane.workers,
        ports: s.ports.len(),
        runtime: ask(&s, calls::Status).await?,
        bridge: ask(&s, StatsQuery).await?,
        reserved: ask(&s, ReservedQuery).await?,
        api: s.server.get().map(|x| {
            x.metrics()
                .iter()
                .map(|m| (m.name.to_string(), m.value))
                .collect()
        }),
    }))
}

/// `/api/v1/counters` (and `moose show counters`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CountersView {
    /// By port name.
    pub ports: BTreeMap<String, PortTotals>,
    pub workers: Vec<WorkerView>,
    /// What each drop reason means.
    pub drop_reasons: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerView {
    pub worker: usize,
    pub counters: BTreeMap<String, u64>,
    /// By punt class, then counter.
    pub punt: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Every dataplane counter: per port (with every drop reason), per worker,
/// per punt class; and what each drop reason means.
async fn counters(State(s): St) -> Json<CountersView> {
    let ports = s
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.clone(), PortTotals::sum(&s.stats, i as u16)))
        .collect();
    let workers = s
        .stats
        .iter()
        .enumerate()
        .map(|(w, st)| WorkerView {
            worker: w,
            counters: WorkerCounter::ALL
                .iter()
                .map(|&c| (c.label().to_string(), st.worker(c)))
                .collect(),
            punt: PuntClass::ALL
                .iter()
                .map(|&class| {
                    (
                        class.name().to_string(),
                        PuntCounter::ALL
                            .iter()
                            .map(|&k| (k.label().to_string(), st.punt(class, k)))
                            .collect(),
                    )
                })
                .collect(),
        })
        .collect();
    let drop_reasons = DropReason::ALL
        .iter()
        .map(|r| (r.label().to_string(), r.help().to_string()))
        .collect();
    Json(CountersView {
        ports,
        workers,
        drop_reasons,
    })
}
